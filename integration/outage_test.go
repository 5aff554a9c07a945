package integration

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"github.com/jetflow-dev/jetflow/internal/breaker"
	"github.com/jetflow-dev/jetflow/internal/devkit/jstest"
	"github.com/jetflow-dev/jetflow/internal/devkit/standin"
	"github.com/jetflow-dev/jetflow/internal/devkit/testplatform"
	"github.com/jetflow-dev/jetflow/internal/stage"
	"github.com/jetflow-dev/jetflow/internal/upstream/modelhttp"
	"github.com/jetflow-dev/jetflow/internal/upstream/speech"
	"github.com/jetflow-dev/jetflow/internal/worker"
	jetflowv1 "github.com/jetflow-dev/jetflow/proto/jetflow/v1"
	"github.com/jetflow-dev/jetflow/streams"
	"github.com/jetflow-dev/jetflow/workers/tts"
)

// With its upstream down, a stage's breaker opens after the configured failures; while it is
// open no call reaches the upstream and the stage holds no message (it stopped pulling), nothing
// is dead-lettered because of the outage, and every message completes once the upstream is back.
func TestUpstreamOutageStopsPullingAndLosesNothing(t *testing.T) {
	p := testplatform.New(t)
	nc, js, ctx := p.NC, p.JS, p.Ctx
	models, err := standin.New(standin.Config{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	// Down means what Ray Serve answers with no healthy replica: 503, no Retry-After.
	var down atomic.Bool
	var calls arrivals
	modelSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/audio/speech" {
			calls.add()
			if down.Load() {
				http.Error(w, `{"error":{"message":"no healthy replicas","code":503}}`, http.StatusServiceUnavailable)
				return
			}
		}
		models.ServeHTTP(w, r)
	}))
	t.Cleanup(modelSrv.Close)
	client, err := speech.New(modelhttp.Config{BaseURL: modelSrv.URL + "/v1"})
	if err != nil {
		t.Fatal(err)
	}
	const openFor = 1500 * time.Millisecond
	breakers := breaker.NewSet("tts", breaker.Settings{ConsecutiveFailures: 3, Timeout: openFor})
	st, err := worker.NewStage(js, tts.NewSynthesis(client, breakers, tts.Config{Concurrency: 4}, nc.MaxPayload()).Spec())
	if err != nil {
		t.Fatal(err)
	}
	jstest.Run(t, ctx, st.Run)

	down.Store(true)
	const n = 12
	for i := range n {
		b, err := proto.Marshal(&jetflowv1.TtsRequest{RequestId: "out-" + strconv.Itoa(i), Text: "sentence number " + strconv.Itoa(i)})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := js.Publish(ctx, streams.SubjectTTSRequest, b); err != nil {
			t.Fatal(err)
		}
	}
	// The breaker opens after 3 failures.
	jstest.Eventually(t, 20*time.Second, 10*time.Millisecond, func() error {
		if breakers.OpenFor() <= 0 {
			return fmt.Errorf("breaker not open; %d upstream calls", calls.count())
		}
		return nil
	})
	callsAtOpen := calls.count()
	// No upstream call while the breaker is open, only the probe once the open interval ends.
	// A call the stage made just before the breaker opened may arrive a little after it
	// (stragglers), and a look may come a little late (margin): what counts is what arrives in
	// between.
	const stragglers, margin = 200 * time.Millisecond, 100 * time.Millisecond
	openUntil := time.Now().Add(breakers.OpenFor())
	openedAt := openUntil.Add(-openFor)
	jstest.Consistently(t, time.Until(openUntil)-margin, 10*time.Millisecond, func() error {
		if n := calls.between(openedAt.Add(stragglers), openUntil.Add(-margin/2)); n > 0 {
			return fmt.Errorf("%d upstream calls while the breaker was open (%d until it opened)", n, callsAtOpen)
		}
		return nil
	})
	cons, err := js.Consumer(ctx, streams.StreamTTS, streams.ConsumerTTS)
	if err != nil {
		t.Fatal(err)
	}
	// The stage stops holding messages: the ones it was working on are put back into the stream
	// (the failures that came before the breaker opened on the next probe), and it pulls no more.
	jstest.Eventually(t, 20*time.Second, 20*time.Millisecond, func() error {
		info, err := cons.Info(ctx)
		if err != nil {
			return err
		}
		if info.NumAckPending != 0 {
			return fmt.Errorf("num_ack_pending = %d while the upstream is down", info.NumAckPending)
		}
		if info.NumPending != n {
			return fmt.Errorf("num_pending = %d, want all %d requests waiting in the stream", info.NumPending, n)
		}
		return nil
	})
	down.Store(false) // the upstream comes back
	jstest.Eventually(t, 60*time.Second, 50*time.Millisecond, func() error {
		s, err := js.Stream(ctx, streams.StreamResults)
		if err != nil {
			return err
		}
		info, err := s.Info(ctx, jetstream.WithSubjectFilter("ai.result.tts.>"))
		if err != nil {
			return err
		}
		if got := len(info.State.Subjects); got != n {
			return fmt.Errorf("%d of %d requests answered", got, n)
		}
		return nil
	})
	if dead := jstest.Stored(t, ctx, js, streams.StreamDeadLetter, ""); len(dead) != 0 {
		t.Fatalf("%d dead letters after an outage, the first %s: %s", len(dead), dead[0].Subject, dead[0].Header.Get(stage.HeaderError))
	}
	t.Logf("upstream calls: %d until the breaker opened, %d in all for %d requests", callsAtOpen, calls.count(), n)
}

// arrivals records when the upstream was called.
type arrivals struct {
	mu    sync.Mutex
	times []time.Time
}

func (a *arrivals) add() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.times = append(a.times, time.Now())
}

func (a *arrivals) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.times)
}

// between counts the calls that arrived after from and before to.
func (a *arrivals) between(from, to time.Time) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := 0
	for _, at := range a.times {
		if at.After(from) && at.Before(to) {
			n++
		}
	}
	return n
}
