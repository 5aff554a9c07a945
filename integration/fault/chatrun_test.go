package fault

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetflow-dev/jetflow/internal/devkit/standin"
	"github.com/jetflow-dev/jetflow/streams"
)

// chatConsumers are the two chat stages' consumers, for AwaitAudit and the redelivery counts.
var chatConsumers = []string{
	streams.StreamChat + "/" + streams.ConsumerChatRetrieve,
	streams.StreamChat + "/" + streams.ConsumerChatGenerate,
}

// chatRun is scenarios 1 and 2's setup: one server process, streams/ applied (with a shorter
// chat ack wait in the short form), the stand-in LLM with a delay so that calls are in flight
// when a fault strikes, two chat-handler replicas sharing the consumers, and a producer.
type chatRun struct {
	t       *testing.T
	ctx     context.Context //nolint:containedctx // the scenario's lifetime
	srv     *Server
	js      jetstream.JetStream
	models  *Models
	workers []*Worker
	prod    *Producer
	rng     *rand.Rand
	start   time.Time
}

func newChatRun(t *testing.T, ctx context.Context) *chatRun {
	t.Helper()
	seed := uint64(time.Now().UnixNano())
	t.Logf("random moments from seed %d", seed)
	r := &chatRun{t: t, ctx: ctx, rng: rand.New(rand.NewPCG(seed, seed)), start: time.Now()}
	r.srv = StartServer(t)
	_, r.js = Connect(t, r.srv.URL())
	// The short form shortens the ack wait so that what a dead worker held comes back in
	// seconds; the full form keeps the committed minute.
	var set *streams.Set // streams/ as committed
	if !Full() {
		set = Definitions(t, ChatAckWait(3*time.Second))
	}
	ApplyStreams(t, ctx, r.js, set)
	r.models = StartModels(t, standin.Config{Delay: 200 * time.Millisecond, DelayJitter: 400 * time.Millisecond})
	r.workers = StartWorkers(t, "chat-handler", "chat-handler", 2, WorkerEnv(r.srv.URL(), r.models.URL))
	r.prod = NewProducer(r.js)
	return r
}

// maxLoad bounds a load that Load.Stop ends: far more than any scenario reaches.
const maxLoad = 1 << 20

// steady publishes n chat requests, one every interval.
func (r *chatRun) steady(prefix string, n int, interval time.Duration) *Load {
	return Steady(r.t, r.ctx, n, interval, func(ctx context.Context, i int) error {
		return r.prod.Chat(ctx, RequestID(prefix, i))
	})
}

// outcomes is Outcomes, asked again while the server does not answer.
func (r *chatRun) outcomes() uint64 {
	r.t.Helper()
	for {
		n, err := Outcomes(r.ctx, r.js)
		if err == nil {
			return n
		}
		if r.ctx.Err() != nil {
			r.t.Fatalf("counting outcomes: %v", err)
		}
	}
}

// awaitOutcomes waits until the streams hold at least n outcomes: faults are timed against
// observed progress, not the clock.
func (r *chatRun) awaitOutcomes(n uint64, within time.Duration) {
	r.t.Helper()
	deadline := time.Now().Add(within)
	for r.outcomes() < n {
		if time.Now().After(deadline) {
			r.t.Fatalf("fewer than %d outcomes within %v", n, within)
		}
		time.Sleep(20 * time.Millisecond) // polling the streams
	}
}

// awaitInFlight waits until the LLM is answering a call: a kill now is a kill mid-model-call.
func (r *chatRun) awaitInFlight(within time.Duration) {
	r.t.Helper()
	deadline := time.Now().Add(within)
	for r.models.Stats().InFlight == 0 {
		if time.Now().After(deadline) {
			r.t.Fatalf("no LLM call in flight within %v", within)
		}
		time.Sleep(5 * time.Millisecond) // polling the stand-in
	}
}

// audit waits for every request's outcome and the consumers to drain, and requires one result
// each and no dead letter.
func (r *chatRun) audit(within time.Duration) *Audit {
	r.t.Helper()
	a := AwaitAudit(r.t, r.ctx, r.js, AuditSpec{Kind: streams.ResultKindChat, IDs: r.prod.Published()}, within, chatConsumers...)
	a.Require(r.t, nil)
	return a
}

// recovered waits until every request published before since has an outcome and returns how
// long after since that was: a request a dead replica held waits for its ack wait to be
// redelivered, one published while the server was away waits for it to come back.
func (r *chatRun) recovered(since time.Time, ids []string, within time.Duration) time.Duration {
	r.t.Helper()
	spec := AuditSpec{Kind: streams.ResultKindChat, IDs: ids}
	for {
		a, err := ReadAudit(r.ctx, r.js, spec)
		if err == nil && len(a.Missing()) == 0 {
			return time.Since(since)
		}
		if time.Since(since) > within {
			r.t.Fatalf("requests published before the fault still incomplete %v after it (%v, %v)", within, a, err)
		}
		time.Sleep(50 * time.Millisecond) // polling the streams
	}
}

// requireWorkersUp fails the test if a worker replica exited by itself.
func (r *chatRun) requireWorkersUp() {
	r.t.Helper()
	for _, w := range r.workers {
		if !w.Running() {
			r.t.Errorf("%s exited by itself:\n%s", w.Name, tail(w.Output(), 3000))
		}
	}
}

// hold lets a fault last d (a server that stays down): the wait is the fault, not a poll.
func hold(ctx context.Context, d time.Duration) {
	select {
	case <-time.After(d):
	case <-ctx.Done():
	}
}
