package bench

import (
	"context"
	"fmt"
	"time"
)

// The chat-worker scenarios (3-6) run cmd/chat-handler as separate processes on the run's
// server, with the production streams and consumers, against stand-in models on loopback ports.

// chatLLMDelay is the stand-in LLM's time per call in scenarios 3-5, and chatConcurrency each
// process's stage concurrency (chat-generate's default): the ideal rate of one process is
// chatConcurrency / chatLLMDelay.
const (
	chatLLMDelay    = 100 * time.Millisecond
	chatConcurrency = 64
)

// chatBound is the ideal rate of procs processes: every slot always busy with a 100 ms call.
func chatBound(procs int) float64 {
	return float64(procs*chatConcurrency) / chatLLMDelay.Seconds()
}

// chatBacklog is the requests stored for one throughput measurement: several seconds of work at
// the bound of one process, a moment in a short run.
func chatBacklog(cfg Config) int {
	if cfg.Short {
		return 200
	}
	return 5000
}

// slowUpstream is scenario 3's load: one process, the LLM at 100 ms, RAG off (the bound is
// the generate stage's, and with RAG off the LLM is the only model called), a backlog for
// throughput, then 80% of the bound for latency.
func slowUpstream(cfg Config, procs int, withLatency bool) chatLoad {
	l := chatLoad{procs: procs, concurrency: chatConcurrency, llmDelay: chatLLMDelay, backlog: chatBacklog(cfg)}
	if withLatency {
		l.rate = int(0.8 * chatBound(procs))
		l.warmUp, l.duration = cfg.warmUp(), 3*time.Second
		if cfg.Short {
			l.duration = 300 * time.Millisecond
		}
	}
	return l
}

// chatThroughput is scenario 3, slow upstream: one chat-handler process with concurrency 64
// against a stand-in LLM that takes 100 ms per call. Throughput over the steady part of a
// backlog's drain against the bound 64 / 100 ms = 640 requests/s (target >= 0.95), then the
// latency of requests at 80% of the bound. It also records the process's peak RSS for 5.
type chatThroughput struct{}

func (chatThroughput) ID() string   { return "3" }
func (chatThroughput) Name() string { return "chat worker, slow upstream" }

const chatThroughputTarget = 0.95

func (c chatThroughput) Run(ctx context.Context, h *Harness) ([]Row, error) {
	cfg := h.Config()
	load := slowUpstream(cfg, 1, true)
	rates, p50s, p99s := map[string][]float64{}, map[string][]float64{}, map[string][]float64{}
	for round := range cfg.Rounds {
		res, err := load.run(ctx, h)
		if err != nil {
			return nil, fmt.Errorf("round %d: %w", round+1, err)
		}
		p50, p99 := millis(percentile(res.latency, 50)), millis(percentile(res.latency, 99))
		h.log.Info("measured chat worker", "round", round+1, "req_per_s", int(res.throughput),
			"p50_ms", p50, "p99_ms", p99, "peak_rss", res.peakRSS)
		rates[sideJetflow] = append(rates[sideJetflow], res.throughput)
		rates[sideBare] = append(rates[sideBare], chatBound(1))
		p50s[sideJetflow] = append(p50s[sideJetflow], p50)
		p99s[sideJetflow] = append(p99s[sideJetflow], p99)
		if res.peakRSS > h.chatRSS.Load() {
			h.chatRSS.Store(res.peakRSS)
		}
		if res.anonRSS > h.chatAnon.Load() {
			h.chatAnon.Store(res.anonRSS)
		}
	}
	caseName := fmt.Sprintf("1 process, c=%d, LLM %v, RAG off", chatConcurrency, chatLLMDelay)
	tput := compare(c, caseName, fmt.Sprintf("throughput, backlog of %d (bare column: the bound c / %v)", load.backlog, chatLLMDelay), "req/s", rates)
	tput.Target = fmt.Sprintf(">= %.2f", chatThroughputTarget)
	tput.Status = StatusOK
	if tput.Ratio < chatThroughputTarget {
		tput.Status = StatusBelowTarget
	}
	latCase := fmt.Sprintf("%s, %d req/s", caseName, load.rate)
	p50 := compare(c, latCase, "publish-to-ChatResponse p50", "ms", p50s)
	p50.Status = StatusInfo
	p99 := compare(c, latCase, "publish-to-ChatResponse p99", "ms", p99s)
	p99.Status = StatusInfo
	return []Row{tput, p50, p99}, nil
}

// chatPeakRSS is scenario 5, footprint under load: the peak RSS (VmHWM) of the chat-handler
// process of scenario 3, or of one run of scenario 3's load when 3 was not run. Target <= 36 MB
// (issue 15). A second row gives the anonymous part (heap, stacks) at the end of the load.
type chatPeakRSS struct{}

func (chatPeakRSS) ID() string   { return "5" }
func (chatPeakRSS) Name() string { return "chat worker footprint under load" }

const chatRSSTarget = 36e6

func (c chatPeakRSS) Run(ctx context.Context, h *Harness) ([]Row, error) {
	rss, anon := h.chatRSS.Load(), h.chatAnon.Load()
	from := "scenario 3's process"
	if rss == 0 {
		res, err := slowUpstream(h.Config(), 1, true).run(ctx, h)
		if err != nil {
			return nil, err
		}
		rss, anon, from = res.peakRSS, res.anonRSS, "a run of scenario 3's load"
	}
	r := Row{
		Scenario: c.ID(), Name: c.Name(), Case: from, Metric: "peak RSS (VmHWM)", Unit: "MB",
		Jetflow: float64(rss) / 1e6, Target: fmt.Sprintf("<= %.0f MB", chatRSSTarget/1e6), Status: StatusOK,
	}
	if float64(rss) > chatRSSTarget {
		r.Status = StatusBelowTarget
	}
	// The part that is the process's own: the rest of the peak is the binary's file-backed
	// pages, shared and reclaimable.
	a := Row{
		Scenario: c.ID(), Name: c.Name(), Case: from, Metric: "anonymous RSS (RssAnon) after the load", Unit: "MB",
		Jetflow: float64(anon) / 1e6, Status: StatusInfo,
	}
	return []Row{r, a}, nil
}
