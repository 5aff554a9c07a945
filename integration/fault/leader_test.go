package fault

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetflow-dev/jetflow/internal/devkit/jstest"
	"github.com/jetflow-dev/jetflow/internal/devkit/standin"
	"github.com/jetflow-dev/jetflow/streams"
)

// 3. Cluster leader loss: a 3-node cluster, R3 streams and consumers, chat requests under
// steady load; the server that leads AI_CHAT is killed mid-run and brought back, then the one
// that leads the chat-generate consumer. No result is lost or duplicated.
func TestClusterLeaderLossLosesNothing(t *testing.T) {
	ctx := Suite(t, 10*time.Minute)
	var (
		n = Scale(150, 1000)
		// The load lasts 30 s in both forms: recovering from the first kill can take 15 s or more
		// (the consumer's new leader answers 503 until it is elected, and the stage backs off), and
		// the second kill must still find requests to serve.
		interval = Scale(200*time.Millisecond, 30*time.Millisecond)
	)
	c := StartCluster(t, 3)
	_, js := Connect(t, c.URL())
	// An ack sent to a leader that dies is lost, and the message comes back after the ack wait:
	// production's 30 s and 60 s would only make the scenario longer.
	ApplyStreams(t, ctx, js, Definitions(t, ChatAckWait(5*time.Second)), streams.WithReplicas(3))
	models := StartModels(t, standin.Config{Delay: 20 * time.Millisecond})
	chat := []*Worker{
		StartWorker(t, "chat-handler", "chat-handler-1", WorkerEnv(c.URL(), models.URL)),
		StartWorker(t, "chat-handler", "chat-handler-2", WorkerEnv(c.URL(), models.URL)),
	}
	prod := NewProducer(js)
	start := time.Now()
	load := Steady(t, ctx, n, interval, func(ctx context.Context, i int) error { return prod.Chat(ctx, RequestID("leader", i)) })

	// Each fault waits until a share of the load has outcomes, so that it lands mid-run. The time
	// to recover runs from the kill to the next outcome.
	var recover time.Duration
	var killed []string
	faults := []struct {
		at     int // outcomes before the fault
		what   string
		leader func() (*Server, error)
	}{
		{n / 4, "stream " + streams.StreamChat, func() (*Server, error) { return c.StreamLeader(ctx, js, streams.StreamChat) }},
		{n / 2, "consumer " + streams.ConsumerChatGenerate, func() (*Server, error) {
			return c.ConsumerLeader(ctx, js, streams.StreamChat, streams.ConsumerChatGenerate)
		}},
	}
	for _, f := range faults {
		waitOutcomes(t, ctx, js, uint64(f.at))
		var leader *Server
		jstest.Eventually(t, 30*time.Second, 100*time.Millisecond, func() error {
			var err error
			leader, err = f.leader()
			return err
		})
		before := waitOutcomes(t, ctx, js, 0)
		leader.Kill()
		killedAt := time.Now()
		killed = append(killed, fmt.Sprintf("%s leader %s", f.what, leader.Name))
		AwaitNewLeader(t, leader, 30*time.Second, f.leader)
		if before < uint64(n) {
			waitOutcomes(t, ctx, js, before+1)
			recover = max(recover, time.Since(killedAt))
		} else {
			// Every request had its outcome before this kill: there is no next one to wait for,
			// and the audit below still checks that the kill lost and doubled nothing.
			t.Logf("the %s leader was killed after the load had completed", f.what)
		}
		leader.Restart()
	}
	load.Wait(t)
	a := AwaitAudit(t, ctx, js, AuditSpec{Kind: streams.ResultKindChat, IDs: prod.Published()}, 3*time.Minute,
		streams.StreamChat+"/"+streams.ConsumerChatRetrieve, streams.StreamChat+"/"+streams.ConsumerChatGenerate)
	a.Require(t, nil)
	for _, w := range chat {
		if !w.Running() {
			t.Errorf("%s exited", w.Name)
		}
	}
	f := Figures{
		Scenario: "3 cluster leader loss",
		Faults:   fmt.Sprintf("kill -9 of the %s and of the %s, each restarted", killed[0], killed[1]),
		Recover:  recover, Duration: time.Since(start), UpstreamCalls: models.Calls(RouteChat),
		Notes: fmt.Sprintf("3 servers, R3; 2 chat-handler replicas; %d publishes retried", prod.Retries()),
	}
	f.FromAudit(a)
	f.Report(t)
}

// waitOutcomes waits until the results and dead letters number at least n, and returns their
// number.
func waitOutcomes(t *testing.T, ctx context.Context, js jetstream.JetStream, n uint64) uint64 {
	t.Helper()
	var got uint64
	jstest.Eventually(t, 2*time.Minute, 50*time.Millisecond, func() error {
		var err error
		if got, err = Outcomes(ctx, js); err != nil {
			return err
		}
		if got < n {
			return fmt.Errorf("%d outcomes, waiting for %d", got, n)
		}
		return nil
	})
	return got
}
