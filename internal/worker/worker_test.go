package worker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/jetflow-dev/jetflow/internal/devkit/jstest"
	"github.com/jetflow-dev/jetflow/internal/devkit/testplatform"
	"github.com/jetflow-dev/jetflow/internal/envconfig"
	"github.com/jetflow-dev/jetflow/internal/stage"
	jetflowv1 "github.com/jetflow-dev/jetflow/proto/jetflow/v1"
	"github.com/jetflow-dev/jetflow/streams"
)

// listen binds a health listener on a port the system picks, held from then on: nothing can
// take it between choosing and serving.
func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	return ln
}

func httpGet(url string) (int, string, error) {
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, url, nil)
	if err != nil {
		return 0, "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// A worker process end to end, in-process: it connects, reports ready once its consumers exist,
// handles a message, exports the stage metrics, and stops cleanly when its context ends.
func TestRunServesReadinessMetricsAndStops(t *testing.T) {
	p := testplatform.New(t)
	js, ctx := p.JS, p.Ctx
	ln := listen(t)
	addr := ln.Addr().String()
	env := envconfig.Map(map[string]string{"NATS_URL": p.URL()})
	var stopped atomic.Int32
	build := func(ctx context.Context, e *Env) ([]Runner, error) {
		e.AtStop(func(context.Context) error {
			// The connection is drained only after every runner has returned.
			if !e.NC.IsClosed() {
				t.Error("AtStop ran before the runners stopped and the connection was drained")
			}
			stopped.Add(1)
			return nil
		})
		return e.Stages(StageSpec{
			Consumer: streams.ConsumerTTS,
			Handler: stage.Typed(func(ctx context.Context, req *jetflowv1.TtsRequest, in *stage.Input) ([]stage.Output, error) {
				return []stage.Output{{Subject: streams.ResultSubject(streams.ResultKindTTS, req.GetRequestId()), Msg: &jetflowv1.TtsAudioChunk{RequestId: req.GetRequestId(), Last: true}}}, nil
			}),
		})
	}
	stop := jstest.Run(t, ctx, func(ctx context.Context) error {
		return Run(ctx, "test-worker", env, slog.New(slog.DiscardHandler), build, WithHealthListener(ln))
	})

	jstest.Eventually(t, 10*time.Second, 20*time.Millisecond, func() error {
		code, body, err := httpGet("http://" + addr + "/readyz")
		if err != nil {
			return err
		}
		if code != http.StatusOK {
			return fmt.Errorf("readyz %d: %s", code, body)
		}
		if !strings.Contains(body, "consumer tts") || !strings.Contains(body, "consumer dead-letter-advisories") {
			return fmt.Errorf("readyz does not list the consumers: %s", body)
		}
		return nil
	})
	// JSON without its Content-Type header does not decode as protobuf: a dead letter, which the
	// metrics must count as well as the good message.
	if _, err := js.Publish(ctx, streams.SubjectTTSRequest, []byte(`{"request_id":"r1","text":"hi"}`)); err != nil {
		t.Fatal(err)
	}
	data, err := proto.Marshal(&jetflowv1.TtsRequest{RequestId: "r2", Text: "hello"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, streams.SubjectTTSRequest, data); err != nil {
		t.Fatal(err)
	}
	jstest.Eventually(t, 10*time.Second, 50*time.Millisecond, func() error {
		_, body, err := httpGet("http://" + addr + "/metrics")
		if err != nil {
			return err
		}
		for _, want := range []string{
			`jetflow_stage_processed_total{outcome="acked",stage="tts"} 1`,
			`jetflow_stage_processed_total{outcome="dead_lettered",stage="tts"} 1`,
			`jetflow_stage_dead_lettered_total{stage="tts"} 1`,
			`jetflow_stage_handler_duration_seconds_bucket`,
			`jetflow_stage_in_flight{stage="tts"} 0`,
		} {
			if !strings.Contains(body, want) {
				return fmt.Errorf("metrics lack %s", want)
			}
		}
		return nil
	})
	if n := stopped.Load(); n != 0 {
		t.Fatalf("AtStop ran %d times before the worker stopped", n)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := httpGet("http://" + addr + "/healthz"); err == nil {
		t.Fatal("health server still up after Run returned")
	}
	if n := stopped.Load(); n != 1 {
		t.Fatalf("AtStop ran %d times, want once after the stage stopped", n)
	}
}

// A Build that fails after registering a cleanup still gets it run, in reverse order, and the
// cleanup's error joins Build's.
func TestAtStopRunsWhenBuildFails(t *testing.T) {
	srv := jstest.Server(t)
	env := envconfig.Map(map[string]string{"NATS_URL": srv.ClientURL(), "HEALTH_ADDR": "127.0.0.1:0"})
	var order []string
	err := Run(jstest.Context(t), "w", env, slog.New(slog.DiscardHandler), func(_ context.Context, e *Env) ([]Runner, error) {
		e.AtStop(func(context.Context) error { order = append(order, "first"); return nil })
		e.AtStop(func(context.Context) error { order = append(order, "second"); return errors.New("closing twice") })
		return nil, errors.New("bad config")
	})
	if err == nil || !strings.Contains(err.Error(), "bad config") || !strings.Contains(err.Error(), "closing twice") {
		t.Fatalf("Run error %v, want Build's and the cleanup's", err)
	}
	if strings.Join(order, ",") != "second,first" {
		t.Fatalf("cleanups ran as %v, want second,first", order)
	}
}

func TestRunReportsEveryBadVariable(t *testing.T) {
	env := envconfig.Map(map[string]string{"LOG_LEVEL": "loud", "NATS_DRAIN_TIMEOUT": "soon", "NATS_USER": "u"})
	err := Run(context.Background(), "w", env, slog.New(slog.DiscardHandler), func(context.Context, *Env) ([]Runner, error) {
		return nil, errors.New("must not be called")
	})
	for _, name := range []string{"LOG_LEVEL", "NATS_DRAIN_TIMEOUT", "NATS_USER needs NATS_PASSWORD"} {
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("error %v does not name %s", err, name)
		}
	}
}

func TestLogLevelTakesTheDocumentedValues(t *testing.T) {
	for value, want := range map[string]slog.Level{
		"": slog.LevelInfo, "debug": slog.LevelDebug, "info": slog.LevelInfo, "warn": slog.LevelWarn, "error": slog.LevelError, "WARN": slog.LevelWarn,
	} {
		r := envconfig.New(envconfig.Map(map[string]string{"LOG_LEVEL": value}))
		if got := settingsFromEnv(r).LogLevel; got != want || r.Err() != nil {
			t.Errorf("LOG_LEVEL=%q gives %v (%v), want %v", value, got, r.Err(), want)
		}
	}
	r := envconfig.New(envconfig.Map(map[string]string{"LOG_LEVEL": "verbose"}))
	settingsFromEnv(r)
	if err := r.Err(); err == nil || !strings.Contains(err.Error(), "LOG_LEVEL") {
		t.Errorf("LOG_LEVEL=verbose: error %v, want one naming LOG_LEVEL", err)
	}
}
