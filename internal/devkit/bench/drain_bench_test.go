package bench

import (
	"context"
	"testing"
)

// BenchmarkDrain drains b.N stored 1 KiB requests through one stage of each side, for CPU
// profiles of the stage loop:
//
//	go test -run '^$' -bench 'Drain/jetflow' -benchtime 20000x -cpuprofile cpu.out ./internal/bench
//	go tool pprof -tagfocus side=jetflow -top cpu.out
//
// The stage's connection and goroutines are labelled side=jetflow or side=bare; the embedded
// server runs in the same process and its work is in the profile too, unlabelled.
func BenchmarkDrain(b *testing.B) {
	ctx := context.Background()
	cfg := Config{Concurrency: defaultConcurrency, StoreDir: b.TempDir()}.withDefaults()
	h, err := newHarness(ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { h.close(ctx) })
	for _, sd := range h.sides() {
		b.Run(sd.name(), func(b *testing.B) {
			b.StopTimer()
			res, err := drain(ctx, h, sd, 1<<10, b.N, b)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(res.rate, "msgs/s")
			b.ReportMetric(float64(res.cpuPerMsg.Nanoseconds()), "cpu-ns/msg")
		})
	}
}
