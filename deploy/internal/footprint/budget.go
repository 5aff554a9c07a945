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

// Budgets are the limits a worker must stay within (DESIGN.md: ~20 MB images, ~15 MB of
// memory, start in under 100 ms).
type Budgets struct {
	// Size of the stripped binary; BigSize for binaries that link the Milvus SDK.
	Size, BigSize int64
	// Ready is the longest time from process start to /readyz answering 200.
	Ready time.Duration
	// IdleRSS is the resident memory after ready with no work; LoadRSS the peak under load.
	IdleRSS, LoadRSS int64
}

// DefaultBudgets are the project's budgets.
var DefaultBudgets = Budgets{
	Size:    20 * MiB,
	BigSize: 35 * MiB,
	Ready:   100 * time.Millisecond,
	IdleRSS: 20 * MiB,
	LoadRSS: 40 * MiB,
}

// Result is one worker's measurements. Zero values of optional parts mean "not measured".
type Result struct {
	Worker string
	// Big is true for binaries with the larger size budget.
	Big  bool
	Size int64
	// Err is why the measurement stopped early (did not become ready, crashed...).
	Err error

	Ready   time.Duration
	IdleRSS int64
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

// Violations lists every budget r exceeds, and every failure; empty means within budget.
func (b Budgets) Violations(r Result) []string {
	var v []string
	size := b.Size
	if r.Big {
		size = b.BigSize
	}
	if r.Size > size {
		v = append(v, fmt.Sprintf("binary %s > %s", mib(r.Size), mib(size)))
	}
	if r.Err != nil {
		v = append(v, r.Err.Error())
		return v
	}
	if r.Ready >= b.Ready {
		v = append(v, fmt.Sprintf("ready in %v >= %v", r.Ready.Round(time.Millisecond), b.Ready))
	}
	if r.IdleRSS > b.IdleRSS {
		v = append(v, fmt.Sprintf("idle RSS %s > %s", mib(r.IdleRSS), mib(b.IdleRSS)))
	}
	if r.Load > 0 && r.LoadRSS > b.LoadRSS {
		v = append(v, fmt.Sprintf("RSS under load %s > %s", mib(r.LoadRSS), mib(b.LoadRSS)))
	}
	if !r.Exited || r.ExitCode != 0 {
		v = append(v, fmt.Sprintf("did not exit 0 after SIGTERM (exited %v, code %d)", r.Exited, r.ExitCode))
	}
	return v
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/MiB) }
