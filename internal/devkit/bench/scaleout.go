package bench

import (
	"context"
	"fmt"
)

// chatScaleOut is scenario 4: scenario 3's backlog drained by 1, 2 and 4 chat-handler processes
// on the same durable consumers, each with concurrency 64 (as KEDA would add replicas of one
// deployment). One row per process count, against its bound n × 640 requests/s. On a machine
// with fewer cores than processes the CPU caps the rate; what matters is that nothing
// serialises them, so the rate grows until the CPU is full. One round per count: each drain is
// several seconds long and the rows are not compared with a target.
type chatScaleOut struct{}

func (chatScaleOut) ID() string   { return "4" }
func (chatScaleOut) Name() string { return "chat scale-out" }

// scaleOutCounts are the process counts measured; a short run stops at 2.
func scaleOutCounts(cfg Config) []int {
	if cfg.Short {
		return []int{1, 2}
	}
	return []int{1, 2, 4}
}

func (c chatScaleOut) Run(ctx context.Context, h *Harness) ([]Row, error) {
	cfg := h.Config()
	var rows []Row
	var one float64
	for _, n := range scaleOutCounts(cfg) {
		load := slowUpstream(cfg, n, false)
		res, err := load.run(ctx, h)
		if err != nil {
			return nil, fmt.Errorf("%d processes: %w", n, err)
		}
		h.log.Info("measured chat scale-out", "processes", n, "req_per_s", int(res.throughput))
		if n == 1 {
			one = res.throughput
		}
		caseName := fmt.Sprintf("%d process(es), c=%d each", n, chatConcurrency)
		if one > 0 && n > 1 {
			caseName += fmt.Sprintf(", %.2f× 1 process", res.throughput/one)
		}
		r := compare(c, caseName,
			fmt.Sprintf("throughput, backlog of %d (bare column: the bound)", load.backlog), "req/s",
			map[string][]float64{sideJetflow: {res.throughput}, sideBare: {chatBound(n)}})
		r.Status = StatusInfo
		rows = append(rows, r)
	}
	return rows, nil
}
