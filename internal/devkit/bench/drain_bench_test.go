package bench

import (
	"context"
	"strings"
	"testing"
)

// BenchmarkDrain drains b.N stored requests of 1 KiB and of 64 KiB through one stage of each
// side (jetflow, bare, idiomatic), for CPU profiles of the stage loop:
//
//	go test -run '^$' -bench 'Drain/jetflow' -benchtime 20000x -cpuprofile cpu.out ./internal/devkit/bench
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
		for _, size := range []int{1 << 10, 64 << 10} {
			b.Run(sd.name()+"/"+strings.ReplaceAll(formatSize(size), " ", ""), func(b *testing.B) {
				b.StopTimer()
				res, err := drain(ctx, h, sd, size, b.N, b)
				if err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(res.rate, "msgs/s")
				b.ReportMetric(float64(res.cpuPerMsg.Nanoseconds()), "cpu-ns/msg")
			})
		}
	}
}
