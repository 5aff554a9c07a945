package worker

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/internal/devkit/jstest"
	"github.com/jetflow-dev/jetflow/internal/devkit/syncbuf"
	"github.com/jetflow-dev/jetflow/internal/devkit/testplatform"
	"github.com/jetflow-dev/jetflow/internal/envconfig"
	"github.com/jetflow-dev/jetflow/internal/stage"
	"github.com/jetflow-dev/jetflow/streams"
)

// With HEALTH_ADDR=127.0.0.1:0 the system picks the port, and the log says which: how a test
// that runs a worker binary finds its health server.
func TestHealthOnPortZeroLogsTheBoundAddress(t *testing.T) {
	p := testplatform.New(t)
	var logs syncbuf.Buffer
	env := envconfig.Map(map[string]string{"NATS_URL": p.URL(), "HEALTH_ADDR": "127.0.0.1:0"})
	jstest.Run(t, p.Ctx, func(ctx context.Context) error {
		return Run(ctx, "w", env, slog.New(slog.NewJSONHandler(&logs, nil)), func(context.Context, *Env) ([]Runner, error) {
			return nil, nil
		})
	})
	var addr string
	jstest.Eventually(t, 10*time.Second, 20*time.Millisecond, func() error {
		sc := bufio.NewScanner(strings.NewReader(logs.String()))
		for sc.Scan() {
			var line struct {
				Msg  string `json:"msg"`
				Addr string `json:"addr"`
			}
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "health server listening" {
				addr = line.Addr
				return nil
			}
		}
		return errors.New("no \"health server listening\" line yet")
	})
	if strings.HasSuffix(addr, ":0") {
		t.Fatalf("logged %s, want the bound port", addr)
	}
	code, body, err := httpGet("http://" + addr + "/healthz")
	if err != nil || code != http.StatusOK {
		t.Fatalf("GET /healthz on the logged address: %d %s %v", code, body, err)
	}
}

func TestStageIsNamedAfterItsConsumer(t *testing.T) {
	p := testplatform.New(t)
	h := stage.HandlerFunc(func(context.Context, *stage.Input) ([]stage.Output, error) { return nil, nil })
	s, err := NewStage(p.JS, StageSpec{Consumer: streams.ConsumerChatGenerate, Handler: h})
	if err != nil {
		t.Fatal(err)
	}
	if s.Name() != streams.ConsumerChatGenerate {
		t.Fatalf("stage name %q, want the consumer's, %q", s.Name(), streams.ConsumerChatGenerate)
	}
	if _, err := NewStage(p.JS, StageSpec{Consumer: "no-such-consumer", Handler: h}); err == nil || !strings.Contains(err.Error(), "no-such-consumer") {
		t.Fatalf("a consumer streams/ does not define: %v, want an error naming it", err)
	}
}

func TestRequiredSettingsNameTheVariableAndWhatItIs(t *testing.T) {
	e := &Env{Config: envconfig.New(envconfig.Map(map[string]string{"TTS_URL": "http://speech/v1"}))}
	if cfg := e.ModelServer("TTS", "the speech server"); cfg.BaseURL != "http://speech/v1" {
		t.Fatalf("TTS_URL read as %q", cfg.BaseURL)
	}
	e.ModelServer("STT", "the transcription server's base URL")
	e.RequireURL("KFP_URL", "the allow-list has KFP pipelines")
	err := e.Config.Err()
	for _, want := range []string{"STT_URL: is required: the transcription server's base URL", "KFP_URL: is required: the allow-list has KFP pipelines"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v, want %q", err, want)
		}
	}
	if err != nil && strings.Contains(err.Error(), "TTS_URL") {
		t.Errorf("TTS_URL is set, yet: %v", err)
	}
}

// Stages sharing a prefix share its settings, and a bad value is reported once.
func TestBreakersReadAPrefixOnce(t *testing.T) {
	e := &Env{Log: slog.New(slog.DiscardHandler), Config: envconfig.New(envconfig.Map(map[string]string{"VOICE_BREAKER_FAILURES": "many"}))}
	for _, name := range []string{"voice-transcribe", "voice-answer", "voice-synthesize"} {
		if e.Breakers(name, "VOICE") == nil {
			t.Fatalf("no breakers for %s", name)
		}
	}
	err := e.Config.Err()
	if err == nil || strings.Count(err.Error(), "VOICE_BREAKER_FAILURES") != 1 {
		t.Fatalf("error %v, want VOICE_BREAKER_FAILURES named once", err)
	}
}

func TestLazyOpensOnceAndRetriesAFailedOpen(t *testing.T) {
	calls := 0
	l := NewLazy(func(context.Context) (int, error) {
		calls++
		if calls == 1 {
			return 0, errors.New("bucket not there yet")
		}
		return calls, nil
	})
	ctx := context.Background()
	if _, err := l.Get(ctx); err == nil {
		t.Fatal("the first open failed, yet Get returned no error")
	}
	for range 3 {
		v, err := l.Get(ctx)
		if err != nil || v != 2 {
			t.Fatalf("Get = %d, %v; want the second open's 2", v, err)
		}
	}
	if calls != 2 {
		t.Fatalf("opened %d times, want 2 (one failure, one success)", calls)
	}
}

func TestLazyStreamSaysWhichStreamIsMissing(t *testing.T) {
	p := testplatform.New(t)
	if _, err := LazyStream(p.JS, "NO_SUCH_STREAM").Get(p.Ctx); err == nil || !strings.Contains(err.Error(), "NO_SUCH_STREAM") {
		t.Fatalf("got %v, want an error naming NO_SUCH_STREAM", err)
	}
	s, err := LazyStream(p.JS, streams.StreamResults).Get(p.Ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.CachedInfo().Config.Name; got != streams.StreamResults {
		t.Fatalf("stream %s, want %s", got, streams.StreamResults)
	}
}
