package fault

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetflow-dev/jetflow/internal/devkit/jstest"
	"github.com/jetflow-dev/jetflow/internal/devkit/standin"
	"github.com/jetflow-dev/jetflow/streams"
)

// rig is what scenarios 4, 6, 7 and 9 run on: a nats-server process with streams/ applied
// (edited as the scenario asks), the stand-in models in this process (so a scenario reads
// their call counts directly), and the worker binaries it starts as processes.
type rig struct {
	t         *testing.T
	ctx       context.Context //nolint:containedctx // a test fixture's lifetime is the test's
	js        jetstream.JetStream
	natsURL   string
	models    *Models
	modelsURL string
	// extraEnv is added to every worker's environment (a fake KFP's URL).
	extraEnv []string
	started  map[string]int // replicas started per binary, for their names
}

// newRig starts the server and the models; edits change streams/ before it is applied
// (Definitions), nil for none.
func newRig(t *testing.T, ctx context.Context, models standin.Config, edits map[string]func(map[string]any)) *rig {
	t.Helper()
	srv := StartServer(t)
	_, js := Connect(t, srv.URL())
	var set *streams.Set
	if edits != nil {
		set = Definitions(t, edits)
	}
	ApplyStreams(t, ctx, js, set)
	m := StartModels(t, models)
	return &rig{t: t, ctx: ctx, js: js, natsURL: srv.URL(), models: m, modelsURL: m.URL, started: map[string]int{}}
}

// ackWait sets the ack wait of consumers of stream: a process killed with kill -9 holds its
// messages until the ack wait ends, and production's (30 s, 60 s) would make a scenario wait
// that long per kill. It only changes how long a redelivery takes, not whether it happens.
func ackWait(d time.Duration, stream string, consumers ...string) map[string]func(map[string]any) {
	set := func(def map[string]any) { def["ack_wait"] = int64(d) }
	edits := map[string]func(map[string]any){}
	for _, c := range consumers {
		edits["consumer/"+stream+"/"+c+".json"] = set
	}
	return edits
}

// startWorker starts a replica of the binary name with the rig's environment plus env, and
// waits until it reports ready.
func (r *rig) startWorker(name string, env ...string) *Worker {
	r.t.Helper()
	r.started[name]++
	return StartWorker(r.t, name, fmt.Sprintf("%s-%d", name, r.started[name]),
		WorkerEnv(r.natsURL, r.modelsURL, append(append([]string(nil), r.extraEnv...), env...)...))
}

// pid is the process id of w's current process.
func pid(w *Worker) int { return w.proc.cmd.Process.Pid }

// publish publishes msg with its Nats-Msg-Id, retrying while the server does not answer.
func (r *rig) publish(msg *nats.Msg) {
	r.t.Helper()
	var err error
	for range 20 {
		ctx, cancel := context.WithTimeout(r.ctx, 5*time.Second)
		_, err = r.js.PublishMsg(ctx, msg)
		cancel()
		if err == nil {
			return
		}
	}
	r.t.Fatalf("publishing on %s: %v", msg.Subject, err)
}

// counts returns how many messages stream holds per subject under filter (a wildcard).
func (r *rig) counts(stream, filter string) map[string]uint64 {
	r.t.Helper()
	s, err := r.js.Stream(r.ctx, stream)
	if err != nil {
		r.t.Fatalf("looking up %s: %v", stream, err)
	}
	info, err := s.Info(r.ctx, jetstream.WithSubjectFilter(filter))
	if err != nil {
		r.t.Fatalf("reading %s: %v", stream, err)
	}
	if info.State.Subjects == nil {
		return map[string]uint64{}
	}
	return info.State.Subjects
}

// stored reads every message stream holds under filter, oldest first, through an ordered
// consumer (one request per batch, not per message).
func (r *rig) stored(stream, filter string) []jetstream.Msg {
	r.t.Helper()
	c, err := r.js.OrderedConsumer(r.ctx, stream, jetstream.OrderedConsumerConfig{FilterSubjects: []string{filter}})
	if err != nil {
		r.t.Fatalf("reading %s: %v", stream, err)
	}
	info, err := c.Info(r.ctx)
	if err != nil {
		r.t.Fatalf("reading %s: %v", stream, err)
	}
	var out []jetstream.Msg
	for left := int(info.NumPending); left > 0; {
		batch, err := c.Fetch(min(left, 500), jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			r.t.Fatalf("reading %s: %v", stream, err)
		}
		n := 0
		for m := range batch.Messages() {
			out = append(out, m)
			n++
		}
		if err := batch.Error(); err != nil {
			r.t.Fatalf("reading %s: %v", stream, err)
		}
		if n == 0 {
			r.t.Fatalf("reading %s: %d messages still expected, none came", stream, left)
		}
		left -= n
	}
	return out
}

// settled waits until every consumer of stream holds nothing: every message acked or
// dead-lettered.
func (r *rig) settled(within time.Duration, stream string, consumers ...string) {
	r.t.Helper()
	jstest.Eventually(r.t, within, 100*time.Millisecond, func() error {
		for _, name := range consumers {
			c, err := r.js.Consumer(r.ctx, stream, name)
			if err != nil {
				return err
			}
			info, err := c.Info(r.ctx)
			if err != nil {
				return err
			}
			if info.NumPending != 0 || info.NumAckPending != 0 {
				return fmt.Errorf("%s has %d pending and %d unacknowledged", name, info.NumPending, info.NumAckPending)
			}
		}
		return nil
	})
}

// deadLetters reads every dead letter.
func (r *rig) deadLetters() []jetstream.Msg {
	r.t.Helper()
	return r.stored(streams.StreamDeadLetter, streams.SubjectDeadLetterAll)
}
