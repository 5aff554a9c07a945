package bench

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetflow-dev/jetflow/internal/stage"
)

// hop is one stage of a measured chain: it serves the durable consumer Name on Stream and
// forwards every input to the subject route gives it. Streams.hop makes one.
type hop struct {
	Name     string // stage name and consumer name
	Stream   string
	From, To string // subject prefixes: an input <From>.<rest> becomes an output <To>.<rest>
}

func (h hop) route(subject string) string { return h.To + strings.TrimPrefix(subject, h.From) }

// side is one implementation of the stage loop under test: the jetflow runtime or the bare loop.
type side interface {
	name() string
	// serve runs the hops on js until ctx ends, and returns when every goroutine it started
	// has finished.
	serve(ctx context.Context, js jetstream.JetStream, hops []hop) error
}

const (
	sideJetflow   = "jetflow"
	sideBare      = "bare"
	sideIdiomatic = "idiomatic"
	// The names of jetflow and bare at twice the concurrency (Config.EqualBound).
	sideJetflowAt2c = sideJetflow + "@2c"
	sideBareAt2c    = sideBare + "@2c"
)

// sides are the loops every measurement of scenarios 1 and 2 runs, round after round: jetflow,
// the two references (bare keeps the runtime's guarantees, idiomatic is what a nats.go user
// writes), and the peers the run was given.
func (h *Harness) sides() []side {
	c := h.cfg.Concurrency
	s := make([]side, 0, 3+len(h.cfg.Peers))
	s = append(s, jetflowSide{concurrency: c, h: h}, bareSide{concurrency: c}, idiomaticSide{concurrency: c})
	for _, p := range h.cfg.Peers {
		s = append(s, peerSide{peer: p, concurrency: c, url: h.URL()})
	}
	if h.cfg.EqualBound {
		s = append(s, renamed{jetflowSide{concurrency: 2 * c, h: h}, sideJetflowAt2c},
			renamed{bareSide{concurrency: 2 * c}, sideBareAt2c})
	}
	return s
}

// renamed is a side measured under another name, so that a loop can run twice in one round
// (at two concurrencies) and its figures be told apart.
type renamed struct {
	side
	as string
}

func (r renamed) name() string { return r.as }

// fetchWait is how long one pull request waits on the server, on both sides (jetflow's default).
const fetchWait = 5 * time.Second

// jetflowSide runs each hop as a stage of the jetflow runtime: stage.New with a stage.Typed
// handler that decodes the request and returns it as the one output.
type jetflowSide struct {
	concurrency int
	h           *Harness
}

func (jetflowSide) name() string { return sideJetflow }

func (s jetflowSide) serve(ctx context.Context, js jetstream.JetStream, hops []hop) error {
	stages := make([]*stage.Stage, 0, len(hops))
	for _, hp := range hops {
		handler := stage.Typed(func(_ context.Context, msg *requestType, in *stage.Input) ([]stage.Output, error) {
			return []stage.Output{{Subject: hp.route(in.Subject), Msg: msg}}, nil
		})
		st, err := stage.New(js, stage.Config{
			Name:        hp.Name,
			Stream:      hp.Stream,
			Consumer:    hp.Name,
			Concurrency: s.concurrency,
			FetchWait:   fetchWait,
		}, handler,
			stage.WithTracerProvider(s.h.telemetry.Tracer),
			stage.WithMeterProvider(s.h.telemetry.Meter))
		if err != nil {
			return fmt.Errorf("creating stage %s: %w", hp.Name, err)
		}
		stages = append(stages, st)
	}
	return runAll(ctx, len(stages), func(ctx context.Context, i int) error { return stages[i].Run(ctx) })
}

// bareSide runs each hop as a bareLoop.
type bareSide struct{ concurrency int }

func (bareSide) name() string { return sideBare }

func (s bareSide) serve(ctx context.Context, js jetstream.JetStream, hops []hop) error {
	return runAll(ctx, len(hops), func(ctx context.Context, i int) error {
		return bareLoop{js: js, hop: hops[i], concurrency: s.concurrency}.run(ctx)
	})
}

// runAll runs n functions until ctx ends and waits for all of them. When one fails the others
// are stopped too.
func runAll(ctx context.Context, n int, run func(context.Context, int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			if errs[i] = run(ctx, i); errs[i] != nil {
				cancel()
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// started runs serve in the background and returns a stop function that cancels it and waits.
func started(ctx context.Context, sd side, js jetstream.JetStream, hops []hop) (stop func() error) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- sd.serve(ctx, js, hops) }()
	return func() error {
		cancel()
		return <-done
	}
}
