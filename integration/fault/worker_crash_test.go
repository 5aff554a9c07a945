package fault

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// Scenario 1, worker crashes: chat requests under steady load while a chat-handler replica is
// killed with kill -9 five times, at moments chosen against observed progress (mid-model-call,
// right after a result was stored, so between the output's publish ack and the input's ack,
// and at random offsets from there, which land mid-publish), and restarted each time; two
// replicas share the consumers. Every request ends in exactly one result: what a dead replica
// held is redelivered after the ack wait, and the outputs' Nats-Msg-Ids make a republish land
// once.
func TestWorkerCrashes(t *testing.T) {
	ctx := Suite(t, Scale(4*time.Minute, 15*time.Minute))
	r := newChatRun(t, ctx)
	// The load runs until the five kills and their recoveries (an ack wait each) are over, and
	// then some: kills are paced by progress, whatever the machine's speed.
	load := r.steady("crash", maxLoad, Scale(150*time.Millisecond, 200*time.Millisecond))
	gap := uint64(Scale(15, 100)) // results between kills

	const kills = 5
	var moments []string
	var recover time.Duration
	for k := range kills {
		r.awaitOutcomes(r.outcomes()+gap, 2*time.Minute)
		victim := r.workers[k%len(r.workers)]
		var moment string
		switch k % 3 {
		case 0:
			r.awaitInFlight(10 * time.Second)
			moment = "mid-model-call"
		case 1:
			// Right as a result is stored: the replica that published it is between the
			// publish's ack and its own ack of the input.
			r.awaitOutcomes(r.outcomes()+1, 30*time.Second)
			moment = "after a result was stored"
		default:
			offset := time.Duration(r.rng.Int64N(int64(50 * time.Millisecond)))
			r.awaitOutcomes(r.outcomes()+1, 30*time.Second)
			hold(ctx, offset)
			moment = fmt.Sprintf("%v after a result was stored", offset.Round(time.Millisecond))
		}
		held := r.prod.Published()
		killed := time.Now()
		victim.Kill()
		moments = append(moments, victim.Name+" "+moment)
		victim.Restart()
		// What the dead replica held comes back after the ack wait: the time to recover is
		// until every request published before the kill has its outcome.
		if d := r.recovered(killed, held, 2*time.Minute); d > recover {
			recover = d
		}
	}
	r.awaitOutcomes(r.outcomes()+gap, 2*time.Minute)
	load.Stop()
	load.Wait(t)
	n := len(r.prod.Published())
	a := r.audit(Scale(2*time.Minute, 5*time.Minute))
	r.requireWorkersUp()

	f := Figures{
		Scenario: "1 worker crashes", Faults: fmt.Sprintf("%d kill -9 of a chat-handler replica (of 2)", kills),
		UpstreamCalls: r.models.Calls(RouteChat), Recover: recover, Duration: time.Since(r.start),
		Notes: fmt.Sprintf("LLM calls redone %d; kills: %s", r.models.Calls(RouteChat)-int64(n), strings.Join(moments, ", ")),
	}
	f.FromAudit(a)
	f.Report(t)
	if calls := r.models.Calls(RouteChat); calls < int64(n) {
		t.Errorf("%d LLM calls for %d requests", calls, n)
	}
}
