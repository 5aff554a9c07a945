package fault

import (
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/internal/devkit/standin"
	"github.com/jetflow-dev/jetflow/streams"
)

// The harness itself: a server process survives SIGTERM and kill -9 with its streams and
// messages, a worker process serves requests published before and after, and the audit counts
// one result each.
func TestHarnessServerRestartKeepsTheStore(t *testing.T) {
	ctx := Suite(t, 3*time.Minute)
	srv := StartServer(t)
	_, js := Connect(t, srv.URL())
	ApplyStreams(t, ctx, js, Definitions(t, ChatAckWait(5*time.Second)))
	models := StartModels(t, standin.Config{})
	StartWorker(t, "chat-handler", "chat-handler-1", WorkerEnv(srv.URL(), models.URL))
	prod := NewProducer(js)
	for i := range 3 {
		if err := prod.Chat(ctx, RequestID("harness", i)); err != nil {
			t.Fatal(err)
		}
	}
	srv.Stop()
	srv.Restart()
	srv.Kill()
	srv.Restart()
	for i := 3; i < 6; i++ {
		if err := prod.Chat(ctx, RequestID("harness", i)); err != nil {
			t.Fatal(err)
		}
	}
	a := AwaitAudit(t, ctx, js, AuditSpec{Kind: streams.ResultKindChat, IDs: prod.Published()}, time.Minute,
		streams.StreamChat+"/"+streams.ConsumerChatRetrieve, streams.StreamChat+"/"+streams.ConsumerChatGenerate)
	a.Require(t, nil)
	if got := models.Calls(RouteChat); got != 6 {
		t.Errorf("%d LLM calls, want 6", got)
	}
}

// The cluster form: three processes, R3 streams, the stream's leader found, killed, replaced
// by another, and brought back.
func TestHarnessClusterLeaderFoundAndReplaced(t *testing.T) {
	ctx := Suite(t, 3*time.Minute)
	c := StartCluster(t, 3)
	_, js := Connect(t, c.URL())
	ApplyStreams(t, ctx, js, nil, streams.WithReplicas(3))
	leader, err := c.StreamLeader(ctx, js, streams.StreamChat)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ConsumerLeader(ctx, js, streams.StreamChat, streams.ConsumerChatGenerate); err != nil {
		t.Fatal(err)
	}
	leader.Kill()
	start := time.Now()
	next := AwaitNewLeader(t, leader, 30*time.Second, func() (*Server, error) { return c.StreamLeader(ctx, js, streams.StreamChat) })
	t.Logf("%s leads %s %v after %s was killed", next.Name, streams.StreamChat, time.Since(start), leader.Name)
	leader.Restart()
}
