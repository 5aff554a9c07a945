package fault

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetflow-dev/jetflow/internal/devkit/standin"
	"github.com/jetflow-dev/jetflow/streams"
)

// Scenario 5, slow model server: every LLM call takes three times the chat consumers' ack wait.
// The runtime keeps each message with InProgress while its handler waits, so the server never
// redelivers one (num_redelivered stays 0 throughout) and the LLM is called once per request.
func TestSlowModelServer(t *testing.T) {
	ctx := Suite(t, Scale(3*time.Minute, 10*time.Minute))
	start := time.Now()
	ackWait := Scale(2*time.Second, 10*time.Second)
	n := Scale(6, 30)
	srv := StartServer(t)
	_, js := Connect(t, srv.URL())
	ApplyStreams(t, ctx, js, Definitions(t, ChatAckWait(ackWait)))
	models := StartModels(t, standin.Config{Delay: 3 * ackWait})
	// Readiness asks the LLM for its models, slowly too: the replicas start side by side.
	StartWorkers(t, "chat-handler", "chat-handler", 2, WorkerEnv(srv.URL(), models.URL))
	prod := NewProducer(js)
	for i := range n {
		if err := prod.Chat(ctx, RequestID("slow", i)); err != nil {
			t.Fatal(err)
		}
	}

	// num_redelivered counts the redelivered messages not yet acknowledged, so it is watched
	// while the calls run, not read once at the end.
	watchCtx, stopWatching := context.WithCancel(ctx)
	watched := make(chan error, 1)
	go func() { watched <- watchNoRedelivery(watchCtx, js) }()
	a := AwaitAudit(t, ctx, js, AuditSpec{Kind: streams.ResultKindChat, IDs: prod.Published()}, Scale(time.Minute, 5*time.Minute), chatConsumers...)
	stopWatching()
	if err := <-watched; err != nil {
		t.Error(err)
	}
	a.Require(t, nil)
	calls := models.Calls(RouteChat)
	if calls != int64(n) {
		t.Errorf("%d LLM calls for %d requests: a message was delivered again while its call ran", calls, n)
	}
	for _, name := range []string{streams.ConsumerChatRetrieve, streams.ConsumerChatGenerate} {
		info, err := ConsumerInfo(ctx, js, streams.StreamChat, name)
		if err != nil {
			t.Fatal(err)
		}
		if info.NumRedelivered != 0 || info.Delivered.Consumer != uint64(n) {
			t.Errorf("consumer %s: %d deliveries, %d redelivered, want %d and 0", name, info.Delivered.Consumer, info.NumRedelivered, n)
		}
	}

	f := Figures{
		Scenario: "5 slow model server", Faults: fmt.Sprintf("every LLM call takes %v, 3x the ack wait %v", 3*ackWait, ackWait),
		UpstreamCalls: calls, Duration: time.Since(start), Notes: "redeliveries 0",
	}
	f.FromAudit(a)
	f.Report(t)
}

// watchNoRedelivery samples the chat consumers until ctx ends and returns an error at the first
// redelivered message.
func watchNoRedelivery(ctx context.Context, js jetstream.JetStream) error {
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		for _, name := range []string{streams.ConsumerChatRetrieve, streams.ConsumerChatGenerate} {
			info, err := ConsumerInfo(ctx, js, streams.StreamChat, name)
			if err != nil {
				continue // ctx ended, or one slow answer: sample again
			}
			if info.NumRedelivered > 0 {
				return fmt.Errorf("consumer %s redelivered %d messages while the LLM was slow", name, info.NumRedelivered)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}
