package worker

import (
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetflow-dev/jetflow/internal/breaker"
	"github.com/jetflow-dev/jetflow/internal/stage"
	"github.com/jetflow-dev/jetflow/streams"
)

// StageSpec is what a worker says about one of its stages; the shell supplies the rest (the
// stage's name and stream, its logger, tracer and meter).
type StageSpec struct {
	// Consumer is the durable consumer the stage serves (a streams.Consumer* name). It is also
	// the stage's name, and its stream is the one streams/ defines it in. Required.
	Consumer string
	// Handler handles one message. Required.
	Handler stage.Handler
	// Breakers gate the stage: it stops pulling while one of them is open. nil means none.
	Breakers *breaker.Set

	// The stage's tuning, as the stage.Config fields of the same names: zero means the
	// runtime's default stated there.
	Concurrency    int
	MaxPayload     int
	HandlerTimeout time.Duration
	Backoff        []time.Duration
	GracePeriod    time.Duration
}

// definitions are the streams/ definitions, read once: they are compiled in.
var definitions = sync.OnceValues(streams.Load)

// NewStage builds the stage spec describes over js. Env.Stages calls it with the process's
// options; a test that runs a stage without a process calls it directly.
func NewStage(js jetstream.JetStream, spec StageSpec, opts ...stage.Option) (*stage.Stage, error) {
	set, err := definitions()
	if err != nil {
		return nil, fmt.Errorf("reading the stream definitions: %w", err)
	}
	stream, _, ok := set.Consumer(spec.Consumer)
	if !ok {
		return nil, fmt.Errorf("building stage %q: streams/ defines no consumer of that name", spec.Consumer)
	}
	cfg := stage.Config{
		Name: spec.Consumer, Stream: stream, Consumer: spec.Consumer,
		Concurrency: spec.Concurrency, MaxPayload: spec.MaxPayload, HandlerTimeout: spec.HandlerTimeout,
		Backoff: spec.Backoff, GracePeriod: spec.GracePeriod,
	}
	if spec.Breakers != nil {
		opts = append(opts, stage.WithGate(spec.Breakers))
	}
	s, err := stage.New(js, cfg, spec.Handler, opts...)
	if err != nil {
		return nil, fmt.Errorf("building stage %s: %w", spec.Consumer, err)
	}
	return s, nil
}
