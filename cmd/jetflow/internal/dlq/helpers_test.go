package dlq

import (
	"bytes"
	"context"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetflow-dev/jetflow/internal/devkit/testplatform"
	"github.com/jetflow-dev/jetflow/internal/stage"
	"github.com/jetflow-dev/jetflow/streams"
)

// harness runs dlq commands against a test platform and keeps what they print.
type harness struct {
	t        *testing.T
	p        *testplatform.Platform
	out, err bytes.Buffer
	env      Env

	nextOriginal uint64
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	h := &harness{t: t, p: testplatform.New(t)}
	h.env = Env{
		Stdout: &h.out, Stderr: &h.err,
		Connect: func(context.Context) (jetstream.JetStream, func(), error) { return h.p.JS, func() {}, nil },
	}
	return h
}

// run runs `jetflow dlq args...` and returns its error; out and err hold only this run's output.
func (h *harness) run(args ...string) error {
	h.out.Reset()
	h.err.Reset()
	return Run(h.p.Ctx, args, h.env)
}

// mustRun runs a command that must succeed and returns its standard output.
func (h *harness) mustRun(args ...string) string {
	h.t.Helper()
	if err := h.run(args...); err != nil {
		h.t.Fatalf("jetflow dlq %q: %v\nstdout:\n%s\nstderr:\n%s", args, err, h.out.String(), h.err.String())
	}
	return h.out.String()
}

// letter stores a dead letter as the runtime builds it and returns its AI_DLQ sequence.
func (h *harness) letter(d stage.DeadLetter) uint64 {
	h.t.Helper()
	if d.FailedAt.IsZero() {
		d.FailedAt = time.Now()
	}
	if d.Stream == "" {
		d.Stream, _, _ = definitions().Consumer(d.Stage)
	}
	if d.OriginalSubject == "" {
		_, cfg, _ := definitions().Consumer(d.Stage)
		d.OriginalSubject = cfg.FilterSubject
	}
	if d.Sequence == 0 {
		// The letter's Nats-Msg-Id derives from it: letters with the same one are one letter.
		h.nextOriginal++
		d.Sequence = 1_000_000 + h.nextOriginal
	}
	if d.Header == nil {
		d.Header = nats.Header{}
	}
	ack, err := h.p.JS.PublishMsg(h.p.Ctx, d.Message(streams.DeadLetterSubject(d.Stage), 0))
	if err != nil {
		h.t.Fatalf("storing a dead letter: %v", err)
	}
	return ack.Sequence
}

// stored is every message of stream on subject.
func (h *harness) stored(stream, subject string) []*jetstream.RawStreamMsg {
	h.t.Helper()
	s, err := h.p.JS.Stream(h.p.Ctx, stream)
	if err != nil {
		h.t.Fatal(err)
	}
	info, err := s.Info(h.p.Ctx)
	if err != nil {
		h.t.Fatal(err)
	}
	var out []*jetstream.RawStreamMsg
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := s.GetMsg(h.p.Ctx, seq)
		if err != nil {
			continue // deleted
		}
		if m.Subject == subject {
			out = append(out, m)
		}
	}
	return out
}

func definitions() *streams.Set {
	set, err := streams.Load()
	if err != nil {
		panic(err)
	}
	return set
}

func protojsonMarshal(m proto.Message) ([]byte, error) { return protojson.Marshal(m) }
