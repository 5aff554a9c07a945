package bench

import (
	"math"
	"slices"
	"time"
)

// median of xs; 0 for none. The benchmark repeats every measurement and reports the median, so
// one run disturbed by the other core's work does not decide the result.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// percentile returns the p-th percentile (0 < p <= 100) of ds by the nearest-rank method: the
// smallest sample with at least p% of the samples at or below it. No interpolation, so p99 of
// 100 samples is the 99th smallest, a latency that really happened.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	rank := int(math.Ceil(p / 100 * float64(len(s))))
	rank = min(max(rank, 1), len(s))
	return s[rank-1]
}

func millis(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
