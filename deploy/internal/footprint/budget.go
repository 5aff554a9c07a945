// Package footprint measures what a worker binary costs to run: its stripped size, the time from
// process start to ready, its resident memory idle and under load, and whether it stops cleanly
// on SIGTERM. deploy/footprint.sh runs it through cmd/footprint on the binaries of make
// binaries; the Kubernetes resource requests and limits are sized from its table.
package footprint

import (
	"fmt"
	"time"
)

// MiB is a mebibyte; the Kubernetes memory limits are written in Mi too.
const MiB = 1 << 20

// Budget is what one worker must stay within. Zero means no limit, so a row states every field.
type Budget struct {
	// Size is the stripped binary's size, as make binaries and the Dockerfile build it.
	Size int64
	// Ready is the longest time from process start to /readyz answering 200 (exclusive).
	Ready time.Duration
	// IdleRSS is the resident memory after ready with no work; LoadRSS the peak under the
	// footprint run's steady load.
	IdleRSS, LoadRSS int64
}

// Budgets are the budgets of every worker: one row per worker, Default for a worker without
// one (a new worker is held to the small workers' budget until it is given its own).
type Budgets struct {
	Default Budget
	Workers map[string]Budget
}

// For is worker's budget.
func (bs Budgets) For(worker string) Budget {
	if b, ok := bs.Workers[worker]; ok {
		return b
	}
	return bs.Default
}

// Result is one worker's measurements. Zero values of optional parts mean "not measured".
type Result struct {
	Worker string
	Size   int64
	// Err is why the measurement stopped early (did not become ready, crashed...).
	Err error

	Ready   time.Duration
	IdleRSS int64
	// IdleAnon is the anonymous part of IdleRSS (no budget: it tells where the memory is).
	IdleAnon int64
	// Load is the number of requests processed under load; 0 means no load was generated.
	Load         int
	LoadDuration time.Duration
	LoadRSS      int64
	// LoadNote says why there was no load, or what went wrong with it.
	LoadNote string
	// Exited is true once the process stopped after SIGTERM; ExitCode is its status.
	Exited   bool
	ExitCode int
}

// Violations lists every limit of its worker's budget r exceeds, and every failure; empty means
// within budget.
func (bs Budgets) Violations(r Result) []string {
	b := bs.For(r.Worker)
	var v []string
	if b.Size > 0 && r.Size > b.Size {
		v = append(v, fmt.Sprintf("binary %s > %s", mib(r.Size), mib(b.Size)))
	}
	if r.Err != nil {
		v = append(v, r.Err.Error())
		return v
	}
	if b.Ready > 0 && r.Ready >= b.Ready {
		v = append(v, fmt.Sprintf("ready in %v >= %v", r.Ready.Round(time.Millisecond), b.Ready))
	}
	if b.IdleRSS > 0 && r.IdleRSS > b.IdleRSS {
		v = append(v, fmt.Sprintf("idle RSS %s > %s", mib(r.IdleRSS), mib(b.IdleRSS)))
	}
	if b.LoadRSS > 0 && r.Load > 0 && r.LoadRSS > b.LoadRSS {
		v = append(v, fmt.Sprintf("RSS under load %s > %s", mib(r.LoadRSS), mib(b.LoadRSS)))
	}
	if !r.Exited || r.ExitCode != 0 {
		v = append(v, fmt.Sprintf("did not exit 0 after SIGTERM (exited %v, code %d)", r.Exited, r.ExitCode))
	}
	return v
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/MiB) }
