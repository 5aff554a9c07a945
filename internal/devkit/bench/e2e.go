package bench

import (
	"context"
	"fmt"
	"time"
)

// chatEndToEnd is scenario 6: a ChatRequest published on ai.chat.request to its ChatResponse on
// ai.result.chat.<id>, through both stages of one chat-handler process with RAG on (embeddings,
// the in-memory search over the sample corpus, rerank and the LLM, all instant stand-ins), at
// Config.Rate for Config.Duration. The response's timings give each request's model time
// (embed + search + rerank + llm); the rest of publish-to-result is jetflow's: two queues, two
// stages, the hand-off and the result.
type chatEndToEnd struct{}

func (chatEndToEnd) ID() string   { return "6" }
func (chatEndToEnd) Name() string { return "chat end-to-end" }

func (c chatEndToEnd) Run(ctx context.Context, h *Harness) ([]Row, error) {
	cfg := h.Config()
	load := chatLoad{procs: 1, concurrency: chatConcurrency, rag: true, rate: cfg.Rate, warmUp: cfg.warmUp(), duration: cfg.Duration}
	runs := map[string]map[string][]float64{}
	add := func(metric string, v float64) {
		if runs[metric] == nil {
			runs[metric] = map[string][]float64{}
		}
		runs[metric][sideJetflow] = append(runs[metric][sideJetflow], v)
	}
	for round := range cfg.Rounds {
		res, err := load.run(ctx, h)
		if err != nil {
			return nil, fmt.Errorf("round %d: %w", round+1, err)
		}
		outside := make([]time.Duration, len(res.latency))
		var total, jetflow time.Duration
		for i, d := range res.latency {
			outside[i] = max(d-res.model[i], 0)
			total += d
			jetflow += outside[i]
		}
		share := 0.0
		if total > 0 {
			share = 100 * float64(jetflow) / float64(total)
		}
		add("p50", millis(percentile(res.latency, 50)))
		add("p99", millis(percentile(res.latency, 99)))
		add("jp50", millis(percentile(outside, 50)))
		add("jp99", millis(percentile(outside, 99)))
		add("share", share)
		h.log.Info("measured chat end to end", "round", round+1, "samples", len(res.latency),
			"p50_ms", runs["p50"][sideJetflow][round], "p99_ms", runs["p99"][sideJetflow][round], "jetflow_share_pct", share)
	}
	caseName := fmt.Sprintf("1 process, RAG on, instant models, %d req/s for %s", cfg.Rate, cfg.Duration)
	row := func(key, metric, unit string) Row {
		r := compare(c, caseName, metric, unit, runs[key])
		r.Status = StatusInfo
		return r
	}
	return []Row{
		row("p50", "publish-to-ChatResponse p50", "ms"),
		row("p99", "publish-to-ChatResponse p99", "ms"),
		row("jp50", "outside the model calls p50", "ms"),
		row("jp99", "outside the model calls p99", "ms"),
		row("share", "share of the total outside the model calls", "%"),
	}, nil
}
