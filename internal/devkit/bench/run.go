// Package bench measures jetflow against bare JetStream, side by side, in one run: the stage
// runtime's cost per message (scenario 1), its latency per hop (scenario 2), and the chat
// worker's throughput against a slow LLM, scale-out, memory and end-to-end latency (scenarios
// 3-6, chat-handler processes against stand-in models). cmd/jetflow-bench is its command.
//
// There are two references. The bare side is bareLoop: the fastest loop we could write on nats.go's
// jetstream package with the runtime's guarantees (no read-ahead beyond the concurrency, publish
// with the same Nats-Msg-Id, ack after the publish ack). The idiomatic side is idiomaticLoop: what
// a nats.go user writes (Consume with PullMaxMessages, read-ahead allowed). Peers (Config.Peers,
// bench/peers: Watermill) run in the same rounds. Every measurement runs on fresh streams of the
// run's server (embedded with file storage in the same process, a nats-server process, or -url),
// alternates the sides over several rounds and reports medians, because a 2-core machine is noisy. Beside msgs/s, scenario 1
// reports the process's CPU time per message, which other work on the machine inflates less
// than the wall clock.
//
// Profiles: the stage connections and goroutines carry the pprof labels side=jetflow|bare, so
//
//	go test -run '^$' -bench 'Drain' -benchtime 30000x -cpuprofile cpu.out ./internal/devkit/bench
//	go tool pprof -tagfocus 'side=^jetflow$' -top cpu.out
//
// shows one side's client work apart from the server's; `go test -bench . -benchmem` also
// measures the hot paths of one message (decode, trace headers, dead-letter building).
package bench

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Run runs the selected scenarios and returns their rows in the order. A scenario that
// fails reports an "error: ..." row and the others still run; Run itself fails only when the
// configuration is wrong, the server does not start, or ctx ends.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("configuring the benchmark: %w", err)
	}
	cfg = cfg.withDefaults()
	selected := Scenarios()
	if len(cfg.Scenarios) > 0 {
		selected = selected[:0]
		for _, s := range Scenarios() {
			if slices.ContainsFunc(cfg.Scenarios, func(name string) bool { return scenarioID(name) == s.ID() }) {
				selected = append(selected, s)
			}
		}
	}
	h, err := newHarness(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer h.close(context.WithoutCancel(ctx))

	r := &Report{Started: time.Now(), Settings: settings(cfg, selected)}
	r.Settings.LoadBefore = loadAverage()
	for _, s := range selected {
		cfg.Logger.Info("running scenario", "scenario", s.ID(), "name", s.Name())
		rows, err := s.Run(ctx, h)
		if ctx.Err() != nil {
			return nil, fmt.Errorf("running scenario %s: %w", s.ID(), ctx.Err())
		}
		if err != nil {
			cfg.Logger.Error("scenario failed", "scenario", s.ID(), "error", err)
			rows = []Row{{Scenario: s.ID(), Name: s.Name(), Status: "error: " + err.Error()}}
		}
		r.Rows = append(r.Rows, rows...)
	}
	r.Elapsed = time.Since(r.Started)
	r.Settings.LoadAfter = loadAverage()
	r.Settings.Storage = h.storage()
	if h.server != nil {
		r.Settings.SlowConsumers = h.server.NumSlowConsumers()
	}
	return r, nil
}

func settings(cfg Config, selected []Scenario) Settings {
	ids := make([]string, len(selected))
	for i, s := range selected {
		ids[i] = s.ID()
	}
	return Settings{
		Short:       cfg.Short,
		Concurrency: cfg.Concurrency,
		Rounds:      cfg.Rounds,
		Payloads:    cfg.Payloads,
		ByteBudget:  cfg.ByteBudget,
		MaxMessages: cfg.MaxMessages,
		Rate:        cfg.Rate,
		Duration:    cfg.Duration.String(),
		Scenarios:   ids,
		GoVersion:   runtime.Version(),
		GOMAXPROCS:  runtime.GOMAXPROCS(0),
		NumCPU:      runtime.NumCPU(),
		NATSServer:  server.VERSION,
		Storage:     "file (embedded server, same process)",
	}
}
