package bench

import (
	"context"
	"fmt"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"github.com/jetflow-dev/jetflow/internal/standin"
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
	if err := chatStreams(ctx, js); err != nil {
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
		"LOG_LEVEL":                 "warn",
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
		if err := tr.wait(ctx, l.backlog, 60*time.Second+time.Duration(l.backlog)*10*time.Millisecond); err != nil {
			return chatResult{}, err
		}
		res.throughput = tr.steadyRate(l.backlog)
	}
	if paced > 0 {
		if err := tr.sendPaced(ctx, js, l.backlog, paced, l.rate, l.rag); err != nil {
			return chatResult{}, err
		}
		if err := tr.wait(ctx, l.backlog+paced, 60*time.Second); err != nil {
			return chatResult{}, err
		}
		res.latency, res.model = tr.latencies(l.backlog+warm, l.backlog+paced)
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

// chatStreams creates the production streams and consumers (idempotent) and empties the chat
// and results streams, so a measurement neither inherits work nor keeps the last one's results.
func chatStreams(ctx context.Context, js jetstream.JetStream) error {
	set, err := streams.Load()
	if err != nil {
		return fmt.Errorf("loading the stream definitions: %w", err)
	}
	if _, err := streams.Apply(ctx, js, set); err != nil {
		return fmt.Errorf("applying the stream definitions: %w", err)
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

// chatTracker numbers the requests of one measurement (request_id <prefix><n>) and records when
// each was published and when its ChatResponse arrived, with the model time its timings report.
type chatTracker struct {
	prefix     string
	sent, recv []atomic.Int64 // unix nanoseconds; 0 = not yet
	model      []atomic.Int64 // nanoseconds
	got        atomic.Int64
	arrived    chan struct{} // signalled on every arrival
}

func newChatTracker(prefix string, n int) *chatTracker {
	return &chatTracker{
		prefix: prefix, sent: make([]atomic.Int64, n), recv: make([]atomic.Int64, n), model: make([]atomic.Int64, n),
		arrived: make(chan struct{}, 1),
	}
}

// modelStages are the timings of the model calls in a ChatResponse; the rest of a request's
// time is jetflow's (queues, stages, hand-off, result).
var modelStages = []string{"embed", "search", "rerank", "llm"}

func (t *chatTracker) received(m *nats.Msg) {
	now := time.Now().UnixNano()
	id := m.Subject[strings.LastIndexByte(m.Subject, '.')+1:]
	rest, ok := strings.CutPrefix(id, t.prefix)
	if !ok {
		return
	}
	i, err := strconv.Atoi(rest)
	if err != nil || i < 0 || i >= len(t.recv) || !t.recv[i].CompareAndSwap(0, now) {
		return
	}
	var resp jetflowv1.ChatResponse
	if proto.Unmarshal(m.Data, &resp) == nil {
		var model time.Duration
		for _, tm := range resp.GetTimings() {
			if slices.Contains(modelStages, tm.GetStage()) {
				model += tm.GetDuration().AsDuration()
			}
		}
		t.model[i].Store(int64(model))
	}
	t.got.Add(1)
	select {
	case t.arrived <- struct{}{}:
	default:
	}
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
			t.sent[i].Store(time.Now().UnixNano())
		}
		return msg, err
	})
}

// sendPaced publishes requests from..from+n-1 open loop: request i leaves at start + i/rate
// whatever happened to the ones before, so a slow answer does not slow the sender.
func (t *chatTracker) sendPaced(ctx context.Context, js jetstream.JetStream, from, n, rate int, rag bool) error {
	interval := time.Second / time.Duration(rate)
	start := time.Now()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for k := range n {
		if d := time.Until(start.Add(time.Duration(k) * interval)); d > 0 {
			timer.Reset(d)
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-timer.C:
			}
		}
		msg, err := t.message(from+k, rag)
		if err != nil {
			return err
		}
		t.sent[from+k].Store(time.Now().UnixNano())
		if _, err := js.PublishMsgAsync(msg); err != nil {
			return fmt.Errorf("sending ChatRequest %d: %w", from+k, err)
		}
	}
	return nil
}

// wait returns when n responses have arrived.
func (t *chatTracker) wait(ctx context.Context, n int, timeout time.Duration) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for t.got.Load() < int64(n) {
		select {
		case <-t.arrived:
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline.C:
			return fmt.Errorf("%d of %d chat responses arrived within %v", t.got.Load(), n, timeout)
		}
	}
	return nil
}

// steadyRate is the rate at which responses 0..n-1 arrived between the tenth and the ninetieth
// percentile of their arrivals: the processes' start and the last stragglers are left out.
func (t *chatTracker) steadyRate(n int) float64 {
	at := make([]int64, n)
	for i := range n {
		at[i] = t.recv[i].Load()
	}
	slices.Sort(at)
	lo, hi := n/10, n-1-n/10
	if hi <= lo || at[hi] == at[lo] {
		return 0
	}
	return float64(hi-lo) / time.Duration(at[hi]-at[lo]).Seconds()
}

// latencies of requests from..to-1: publish to response, and the model time inside it.
func (t *chatTracker) latencies(from, to int) (total, model []time.Duration) {
	for i := from; i < to; i++ {
		total = append(total, time.Duration(t.recv[i].Load()-t.sent[i].Load()))
		model = append(model, time.Duration(t.model[i].Load()))
	}
	return total, model
}
