package standin

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"
)

// faults holds the injected latency, errors and outage. The random draws come from one seeded
// generator under a lock, so a seed and an order of requests give the same faults every run.
type faults struct {
	delay, jitter time.Duration
	errorRate     float64

	mu          sync.Mutex
	rng         *rand.Rand
	outageFrom  time.Time
	outageUntil time.Time
}

func newFaults(cfg Config, start time.Time) *faults {
	f := &faults{
		delay:     cfg.Delay,
		jitter:    cfg.DelayJitter,
		errorRate: cfg.ErrorRate,
		rng:       rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x5deece66d)),
	}
	if cfg.OutageDuration > 0 {
		f.outageFrom = start.Add(cfg.OutageStart)
		f.outageUntil = f.outageFrom.Add(cfg.OutageDuration)
	}
	return f
}

// outage reports whether now is inside the outage and how long it still lasts.
func (f *faults) outage(now time.Time) (bool, time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if now.Before(f.outageFrom) || !now.Before(f.outageUntil) {
		return false, 0
	}
	return true, f.outageUntil.Sub(now)
}

// setOutage replaces any outage, configured or not, by one from now lasting d; d == 0 ends it.
func (f *faults) setOutage(now time.Time, d time.Duration) time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.outageFrom, f.outageUntil = now, now.Add(d)
	return f.outageUntil
}

// draw decides one request's fate: its delay and whether it fails.
func (f *faults) draw() (time.Duration, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	d := f.delay
	if f.jitter > 0 {
		d += time.Duration(f.rng.Int64N(int64(f.jitter)))
	}
	return d, f.errorRate > 0 && f.rng.Float64() < f.errorRate
}

// sleep waits d, or less when ctx ends first; it reports whether the whole wait passed.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
