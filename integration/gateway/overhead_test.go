package gateway

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"github.com/jetflow-dev/jetflow/internal/envconfig"
	"github.com/jetflow-dev/jetflow/internal/stage"
	jetflowv1 "github.com/jetflow-dev/jetflow/proto/jetflow/v1"
	"github.com/jetflow-dev/jetflow/proto/jetflow/v1/jetflowv1connect"
	"github.com/jetflow-dev/jetflow/streams"
)

// The bench scenario of the gateway: chat answered through the gateway against the same
// requests published directly into JetStream (an application holding NATS credentials: it
// subscribes to the result subject, publishes with a Nats-Msg-Id, waits for the result), at
// the same rate, taking turns in 2 s slices on the same platform. What the gateway adds is the
// difference of the percentiles.
//
// `make bench-gateway` runs it: JETFLOW_GATEWAY_BENCH=1 (rate JETFLOW_GATEWAY_BENCH_RATE, default 500/s; length
// JETFLOW_GATEWAY_BENCH_DURATION, default 20s); JETFLOW_GATEWAY_BENCH_FIGURES names a file the
// figures are written to as JSON.
func TestGatewayOverhead(t *testing.T) {
	if os.Getenv("JETFLOW_GATEWAY_BENCH") == "" {
		t.Skip("the gateway's bench scenario: set JETFLOW_GATEWAY_BENCH=1")
	}
	env := envconfig.New(os.LookupEnv)
	rate := env.Int("JETFLOW_GATEWAY_BENCH_RATE", 500, 1, 100_000)
	length := env.Duration("JETFLOW_GATEWAY_BENCH_DURATION", 20*time.Second, time.Second, time.Hour)
	if err := env.Err(); err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, harnessOptions{noStart: []string{"tts-module", "voice-assistant", "stt-module", "pipeline-bridge"}})
	client := jetflowv1connect.NewChatServiceClient(h2cClient(t), h.url)
	directNC := h.p.NC
	directJS := h.p.JS

	// JETFLOW_GATEWAY_BENCH_RAG=off asks without retrieval (one model call instead of four), for
	// a machine where the platform itself cannot keep up with the rate.
	disableRAG := os.Getenv("JETFLOW_GATEWAY_BENCH_RAG") == "off"
	direct := func(ctx context.Context, id string) error {
		req := &jetflowv1.ChatRequest{RequestId: id, Query: "How does KEDA scale the workers?", DisableRag: disableRAG}
		data, err := proto.Marshal(req)
		if err != nil {
			return err
		}
		sub, err := directNC.SubscribeSync(streams.ResultSubject(streams.ResultKindChat, id))
		if err != nil {
			return err
		}
		defer func() { _ = sub.Unsubscribe() }()
		msg := &nats.Msg{Subject: streams.SubjectChatRequest, Data: data, Header: nats.Header{
			jetstream.MsgIDHeader: {"direct:" + id}, stage.HeaderType: {"jetflow.v1.ChatRequest"},
		}}
		if _, err := directJS.PublishMsg(ctx, msg); err != nil {
			return err
		}
		_, err = sub.NextMsgWithContext(ctx)
		return err
	}
	viaGateway := func(ctx context.Context, id string) error {
		_, err := client.Chat(ctx, &jetflowv1.ChatRequest{RequestId: id, Query: "How does KEDA scale the workers?", DisableRag: disableRAG})
		return err
	}
	// Warm both paths up (connections, the stream lookups, the model clients).
	runAtRate(t, h.p.Ctx, "warm-d", 50, time.Second, direct)
	runAtRate(t, h.p.Ctx, "warm-g", 50, time.Second, viaGateway)

	// The two sides take turns in slices of a few seconds, the first of each pair alternating,
	// so that a busy moment of a shared machine lands on both rather than on one side's p99.
	var d, g latencies
	for round := 0; time.Duration(round)*overheadSlice < length; round++ {
		sides := []func(){
			func() { d.add(runAtRate(t, h.p.Ctx, "direct-"+strconv.Itoa(round), rate, overheadSlice, direct)) },
			func() { g.add(runAtRate(t, h.p.Ctx, "gateway-"+strconv.Itoa(round), rate, overheadSlice, viaGateway)) },
		}
		if round%2 == 1 {
			slices.Reverse(sides)
		}
		for _, run := range sides {
			run()
		}
	}
	fig := overheadFigures{
		Rate: rate, RAG: !disableRAG, Seconds: length.Seconds(), Requests: len(d.latencies),
		DirectP50MS: ms(d.pct(50)), DirectP99MS: ms(d.pct(99)),
		GatewayP50MS: ms(g.pct(50)), GatewayP99MS: ms(g.pct(99)),
		DirectErrors: d.errors, GatewayErrors: g.errors,
	}
	fig.AddedP50MS, fig.AddedP99MS = fig.GatewayP50MS-fig.DirectP50MS, fig.GatewayP99MS-fig.DirectP99MS
	out, _ := json.Marshal(fig)
	t.Logf("%s", out)
	if path := os.Getenv("JETFLOW_GATEWAY_BENCH_FIGURES"); path != "" {
		if err := os.WriteFile(path, append(out, '\n'), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if d.errors+g.errors > 0 {
		t.Errorf("%d direct and %d gateway requests failed", d.errors, g.errors)
	}
}

type overheadFigures struct {
	Rate          int     `json:"rate_per_s"`
	RAG           bool    `json:"rag"`
	Seconds       float64 `json:"seconds"`
	Requests      int     `json:"requests_per_side"`
	DirectP50MS   float64 `json:"direct_p50_ms"`
	DirectP99MS   float64 `json:"direct_p99_ms"`
	GatewayP50MS  float64 `json:"gateway_p50_ms"`
	GatewayP99MS  float64 `json:"gateway_p99_ms"`
	AddedP50MS    float64 `json:"added_p50_ms"`
	AddedP99MS    float64 `json:"added_p99_ms"`
	DirectErrors  int     `json:"direct_errors"`
	GatewayErrors int     `json:"gateway_errors"`
}

// overheadSlice is how long one side runs before the other takes its turn.
const overheadSlice = 2 * time.Second

type latencies struct {
	latencies []time.Duration
	errors    int
}

func (l *latencies) add(more latencies) {
	l.latencies = append(l.latencies, more.latencies...)
	l.errors += more.errors
}

func (l latencies) pct(p int) time.Duration {
	if len(l.latencies) == 0 {
		return 0
	}
	s := slices.Clone(l.latencies)
	slices.Sort(s)
	return s[min(len(s)-1, len(s)*p/100)]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// runAtRate starts call at rate per second for length (open loop: a slow answer does not slow
// the sending) and returns each call's latency.
func runAtRate(t *testing.T, ctx context.Context, prefix string, rate int, length time.Duration, call func(context.Context, string) error) latencies {
	t.Helper()
	n := int(float64(rate) * length.Seconds())
	var (
		mu  sync.Mutex
		out latencies
		wg  sync.WaitGroup
	)
	start := time.Now()
	for i := range n {
		if wait := time.Until(start.Add(time.Duration(i) * time.Second / time.Duration(rate))); wait > 0 {
			time.Sleep(wait)
		}
		wg.Go(func() {
			callCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			begin := time.Now()
			err := call(callCtx, prefix+"-"+strconv.Itoa(i))
			took := time.Since(begin)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				out.errors++
				return
			}
			out.latencies = append(out.latencies, took)
		})
	}
	wg.Wait()
	return out
}

// h2cClient speaks HTTP/2 without TLS to the gateway: one connection, many calls.
func h2cClient(t *testing.T) *http.Client {
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	tr := &http.Transport{Protocols: &p}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}
