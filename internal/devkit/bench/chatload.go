package bench

import (
	"context"
	"fmt"
	"maps"
	"net"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"github.com/jetflow-dev/jetflow/internal/devkit/standin"
	jetflowv1 "github.com/jetflow-dev/jetflow/proto/jetflow/v1"
	"github.com/jetflow-dev/jetflow/streams"
)

// chatLoad is one measurement of chat-handler: procs processes on the production streams and
// consumers (streams.Apply on the run's server), the stand-in models, a backlog drained for
// throughput and then requests at a fixed rate for latency.
type chatLoad struct {
	procs       int
	concurrency int           // CHAT_RETRIEVE_CONCURRENCY and CHAT_GENERATE_CONCURRENCY of each process
	llmDelay    time.Duration // the stand-in LLM's time per call; embeddings and rerank are instant
	rag         bool          // false sets disable_rag: the LLM is the only model called
	backlog     int           // requests stored at once and drained; 0 = none
	rate        int           // requests per second after the backlog; 0 = none
	warmUp      time.Duration // of the rate phase, sent but not counted
	duration    time.Duration // of the rate phase, counted
}

// chatResult is what one chatLoad measured.
type chatResult struct {
	throughput float64         // requests/s over the steady part of the backlog drain
	latency    []time.Duration // publish to ChatResponse, rate phase after the warm-up
	model      []time.Duration // the same requests' embed+search+rerank+llm timings
	peakRSS    int64           // the highest VmHWM of the processes, bytes
	anonRSS    int64           // the highest RssAnon of the processes at the end of the load, bytes
}

// chatQuestion is every request's question: the sample corpus answers it, so with RAG on the
// retrieval finds sources and the stand-in LLM quotes one.
const chatQuestion = "How does JetStream keep messages durable?"

func (l chatLoad) run(ctx context.Context, h *Harness) (chatResult, error) {
	bin, err := h.chatHandler(ctx)
	if err != nil {
		return chatResult{}, err
	}
	nc, js, err := h.Connect("bench-chat-client")
	if err != nil {
		return chatResult{}, err
	}
	defer nc.Close()
	if err := h.chatStreams(ctx, js); err != nil {
		return chatResult{}, err
	}

	// Two stand-in servers, so that the delay (which the stand-in adds to every model request)
	// applies to the LLM only.
	llmURL, stopLLM, err := startModels(ctx, h, standin.Config{Delay: l.llmDelay})
	if err != nil {
		return chatResult{}, err
	}
	defer stopLLM()
	fastURL, stopFast := llmURL, func() {}
	if l.llmDelay > 0 {
		if fastURL, stopFast, err = startModels(ctx, h, standin.Config{}); err != nil {
			return chatResult{}, err
		}
	}
	defer stopFast()

	warm := int(l.warmUp.Seconds() * float64(l.rate))
	paced := 0
	if l.rate > 0 {
		paced = warm + max(1, int(l.duration.Seconds()*float64(l.rate)))
	}
	tr := newChatTracker("b"+strconv.FormatInt(h.runs.Add(1), 10)+"-", l.backlog+paced)
	sub, err := nc.Subscribe(streams.ResultSubject(streams.ResultKindChat, "*"), tr.received)
	if err != nil {
		return chatResult{}, fmt.Errorf("subscribing to chat results: %w", err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := sub.SetPendingLimits(-1, -1); err != nil {
		return chatResult{}, fmt.Errorf("lifting the results subscription's limits: %w", err)
	}
	if err := nc.Flush(); err != nil {
		return chatResult{}, fmt.Errorf("flushing the results subscription: %w", err)
	}

	env := map[string]string{
		"NATS_URL":                  h.URL(),
		"LLM_URL":                   llmURL + "/v1",
		"EMBEDDINGS_URL":            fastURL + "/v1",
		"RERANKER_URL":              fastURL,
		"CHAT_RETRIEVE_CONCURRENCY": strconv.Itoa(l.concurrency),
		"CHAT_GENERATE_CONCURRENCY": strconv.Itoa(l.concurrency),
		"LOG_LEVEL":                 "info", // not warn: startWorker reads the health address from the log
	}
	procs := make([]*workerProc, 0, l.procs)
	defer func() {
		if err := stopAll(procs); err != nil {
			h.log.Warn("stopping chat-handler", "error", err)
		}
	}()
	for range l.procs {
		p, err := startWorker(ctx, bin, maps.Clone(env))
		if err != nil {
			return chatResult{}, err
		}
		procs = append(procs, p)
	}
	settle()

	var res chatResult
	if l.backlog > 0 {
		if err := tr.publishBacklog(ctx, js, l.backlog, l.rag); err != nil {
			return chatResult{}, err
		}
		if err := tr.wait(ctx, l.backlog, drainTimeout(l.backlog)); err != nil {
			return chatResult{}, err
		}
		res.throughput = tr.steadyRate(l.backlog)
	}
	if paced > 0 {
		if err := tr.sendPaced(ctx, js, l.backlog, paced, l.rate, func(i int) (*nats.Msg, error) { return tr.message(i, l.rag) }); err != nil {
			return chatResult{}, err
		}
		if err := tr.wait(ctx, l.backlog+paced, 60*time.Second); err != nil {
			return chatResult{}, err
		}
		res.latency, res.model = tr.latencies(l.backlog+warm, l.backlog+paced), tr.modelTimes(l.backlog+warm, l.backlog+paced)
	}
	for _, p := range procs {
		rss, err := PeakRSS(p.pid())
		if err != nil {
			return chatResult{}, err
		}
		anon, err := AnonRSS(p.pid())
		if err != nil {
			return chatResult{}, err
		}
		res.peakRSS, res.anonRSS = max(res.peakRSS, rss), max(res.anonRSS, anon)
	}
	stopErr := stopAll(procs)
	procs = nil
	return res, stopErr
}

// chatStreams creates the production streams and consumers, once per run, and empties the
// chat and results streams, so a measurement neither inherits work nor keeps the last one's
// results.
func (h *Harness) chatStreams(ctx context.Context, js jetstream.JetStream) error {
	h.chatStreamsOnce.Do(func() { h.chatStreamsErr = applyProductionStreams(ctx, js) })
	if h.chatStreamsErr != nil {
		return h.chatStreamsErr
	}
	for _, name := range []string{streams.StreamChat, streams.StreamResults} {
		st, err := js.Stream(ctx, name)
		if err != nil {
			return fmt.Errorf("looking up stream %s: %w", name, err)
		}
		if err := st.Purge(ctx); err != nil {
			return fmt.Errorf("purging stream %s: %w", name, err)
		}
	}
	return nil
}

func applyProductionStreams(ctx context.Context, js jetstream.JetStream) error {
	set, err := streams.Load()
	if err != nil {
		return fmt.Errorf("loading the stream definitions: %w", err)
	}
	if _, err := streams.Apply(ctx, js, set); err != nil {
		return fmt.Errorf("applying the stream definitions: %w", err)
	}
	return nil
}

// startModels serves stand-in models on a loopback port until stop is called.
func startModels(ctx context.Context, h *Harness, cfg standin.Config) (url string, stop func(), err error) {
	cfg.ShutdownTimeout = time.Second
	srv, err := standin.New(cfg, h.log)
	if err != nil {
		return "", nil, fmt.Errorf("creating the stand-in models: %w", err)
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, fmt.Errorf("listening for the stand-in models: %w", err)
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	return "http://" + ln.Addr().String(), func() {
		cancel()
		if err := <-done; err != nil {
			h.log.Warn("stopping the stand-in models", "error", err)
		}
	}, nil
}

// chatTracker is the tracker of one chat measurement: request_id <prefix><n>, and the model
// time each ChatResponse's timings report.
type chatTracker struct {
	*tracker
	model []atomic.Int64 // nanoseconds
}

func newChatTracker(prefix string, n int) *chatTracker {
	t := &chatTracker{tracker: newTracker(prefix, n), model: make([]atomic.Int64, n)}
	t.onArrival = t.recordModelTime
	return t
}

// modelStages are the timings of the model calls in a ChatResponse; the rest of a request's
// time is jetflow's (queues, stages, hand-off, result).
var modelStages = []string{"embed", "search", "rerank", "llm"}

func (t *chatTracker) recordModelTime(i int, m *nats.Msg) {
	var resp jetflowv1.ChatResponse
	if proto.Unmarshal(m.Data, &resp) != nil {
		return
	}
	var model time.Duration
	for _, tm := range resp.GetTimings() {
		if slices.Contains(modelStages, tm.GetStage()) {
			model += tm.GetDuration().AsDuration()
		}
	}
	t.model[i].Store(int64(model))
}

func (t *chatTracker) message(i int, rag bool) (*nats.Msg, error) {
	id := t.prefix + strconv.Itoa(i)
	data, err := proto.Marshal(&jetflowv1.ChatRequest{RequestId: id, Query: chatQuestion, DisableRag: !rag})
	if err != nil {
		return nil, fmt.Errorf("encoding ChatRequest %s: %w", id, err)
	}
	return &nats.Msg{Subject: streams.SubjectChatRequest, Data: data, Header: nats.Header{jetstream.MsgIDHeader: {id}}}, nil
}

// publishBacklog stores requests 0..n-1 as fast as the server takes them, far above any rate
// the workers reach, so they always find work waiting.
func (t *chatTracker) publishBacklog(ctx context.Context, js jetstream.JetStream, n int, rag bool) error {
	return publishPipelined(ctx, js, n, func(i int) (*nats.Msg, error) {
		msg, err := t.message(i, rag)
		if err == nil {
			t.markSent(i)
		}
		return msg, err
	})
}

// modelTimes of requests from..to-1: the model time inside each one's latency.
func (t *chatTracker) modelTimes(from, to int) []time.Duration {
	out := make([]time.Duration, 0, to-from)
	for i := from; i < to; i++ {
		out = append(out, time.Duration(t.model[i].Load()))
	}
	return out
}
