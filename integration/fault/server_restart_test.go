package fault

import (
	"fmt"
	"testing"
	"time"
)

// Scenario 2, server restart: chat requests under steady load while the server process is
// stopped, once with SIGTERM and once with kill -9, stays down for a while, and is restarted on
// the same store and port. The workers reconnect by themselves, the producer retries its
// publishes with the same Nats-Msg-Id, and every request ends in exactly one result.
func TestServerRestart(t *testing.T) {
	ctx := Suite(t, Scale(4*time.Minute, 15*time.Minute))
	r := newChatRun(t, ctx)
	load := r.steady("restart", maxLoad, Scale(150*time.Millisecond, 200*time.Millisecond))
	down := Scale(3*time.Second, 20*time.Second)
	gap := uint64(Scale(30, 250)) // results between the faults, and after the last

	var recover time.Duration
	for _, how := range []string{"SIGTERM", "kill -9"} {
		r.awaitOutcomes(r.outcomes()+gap, 2*time.Minute)
		r.awaitInFlight(10 * time.Second)
		held := r.prod.Published()
		before := r.outcomes()
		stopped := time.Now()
		if how == "SIGTERM" {
			r.srv.Stop()
		} else {
			r.srv.Kill()
		}
		hold(ctx, down)
		r.srv.Restart()
		restarted := time.Now()
		// The time to recover is from the restart until results flow again and every request
		// published before the stop has its outcome.
		d := WaitProgress(t, ctx, r.js, before, 2*time.Minute)
		if all := r.recovered(stopped, held, 3*time.Minute) - restarted.Sub(stopped); all > d {
			d = all
		}
		t.Logf("%s: down %v, recovered %v after the restart", how, down, d)
		recover = max(recover, d)
	}
	r.awaitOutcomes(r.outcomes()+gap, 2*time.Minute)
	load.Stop()
	load.Wait(t)
	n := len(r.prod.Published())
	a := r.audit(Scale(2*time.Minute, 5*time.Minute))
	r.requireWorkersUp()

	f := Figures{
		Scenario: "2 server restart", Faults: fmt.Sprintf("nats-server stopped with SIGTERM once and kill -9 once, down %v each", down),
		UpstreamCalls: r.models.Calls(RouteChat), Recover: recover, Duration: time.Since(r.start),
		Notes: fmt.Sprintf("LLM calls redone %d; publishes retried %d", r.models.Calls(RouteChat)-int64(n), r.prod.Retries()),
	}
	f.FromAudit(a)
	f.Report(t)
}
