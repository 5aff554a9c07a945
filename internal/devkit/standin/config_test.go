package standin

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/jetflow-dev/jetflow/internal/devkit/jstest"
	"github.com/jetflow-dev/jetflow/internal/envconfig"
)

func TestFromEnv(t *testing.T) {
	cfg, err := FromEnv(envconfig.Map(map[string]string{
		"STANDIN_ADDR": "0.0.0.0:9000", "STANDIN_PREFIX": "llm/v1/", "STANDIN_TEI_PREFIX": "/tei",
		"STANDIN_DELAY": "20ms", "STANDIN_DELAY_JITTER": "5ms", "STANDIN_TOKEN_DELAY": "1ms",
		"STANDIN_ERROR_RATE": "0.25", "STANDIN_SEED": "42", "STANDIN_OUTAGE_START": "1m",
		"STANDIN_OUTAGE_DURATION": "30s", "STANDIN_SAMPLE_RATE": "24000", "STANDIN_EMBEDDING_DIM": "768",
		"STANDIN_MAX_BATCH": "8", "STANDIN_SHUTDOWN_TIMEOUT": "2s",
	}))
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		Addr: "0.0.0.0:9000", Prefix: "/llm/v1", TEIPrefix: "/tei", Delay: 20 * time.Millisecond,
		DelayJitter: 5 * time.Millisecond, TokenDelay: time.Millisecond, ErrorRate: 0.25, Seed: 42,
		OutageStart: time.Minute, OutageDuration: 30 * time.Second, SampleRate: 24000, EmbeddingDim: 768,
		MaxBatch: 8, ShutdownTimeout: 2 * time.Second,
	}
	if cfg != want {
		t.Errorf("FromEnv = %+v\nwant       %+v", cfg, want)
	}

	defaults, err := FromEnv(envconfig.Map(nil))
	if err != nil {
		t.Fatal(err)
	}
	if defaults.Addr != "127.0.0.1:8000" || defaults.Prefix != "/v1" || defaults.TEIPrefix != "/" || defaults.SampleRate != 16000 || defaults.EmbeddingDim != 384 {
		t.Errorf("defaults = %+v", defaults)
	}

	_, err = FromEnv(envconfig.Map(map[string]string{"STANDIN_ERROR_RATE": "2", "STANDIN_DELAY": "soon", "STANDIN_SAMPLE_RATE": "16001"}))
	for _, name := range []string{"STANDIN_ERROR_RATE", "STANDIN_DELAY"} {
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("error %v does not name %s", err, name)
		}
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"zero", Config{}, true},
		{"negative delay", Config{Delay: -time.Second}, false},
		{"error rate above one", Config{ErrorRate: 1.5}, false},
		{"bad sample rate", Config{SampleRate: 44101}, false},
		{"huge dimension", Config{EmbeddingDim: 1 << 20}, false},
		{"colliding prefixes", Config{Prefix: "/", TEIPrefix: ""}, false},
		{"root prefix", Config{Prefix: "/", TEIPrefix: "/tei"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.ok != (err == nil) || (err != nil && !errors.Is(err, ErrInvalidConfig)) {
				t.Errorf("Validate = %v", err)
			}
			if _, err := New(tt.cfg, nil); tt.ok != (err == nil) {
				t.Errorf("New = %v", err)
			}
		})
	}
}

func TestPrefixes(t *testing.T) {
	ts, _ := serve(t, Config{Prefix: "/", TEIPrefix: "/tei/"})
	for path, body := range map[string]string{
		"/chat/completions": chatBody,
		"/embeddings":       `{"input":"x"}`,
		"/rerank":           `{"query":"q","documents":["a"]}`,
		"/tei/embed":        `{"inputs":"x"}`,
		"/tei/rerank":       `{"query":"q","texts":["a"]}`,
	} {
		if resp := post(t, ts.URL+path, body); resp.StatusCode != http.StatusOK {
			t.Errorf("POST %s = %d", path, resp.StatusCode)
		}
	}
}

func TestServeShutsDown(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		request bool
		wantErr bool
	}{
		{"idle", Config{}, false, false},
		{"request outlives the limit", Config{Delay: time.Hour, ShutdownTimeout: 50 * time.Millisecond}, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := goleak.IgnoreCurrent()
			s, err := New(tt.cfg, nil)
			if err != nil {
				t.Fatal(err)
			}
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			ctx, stop := context.WithCancel(t.Context())
			served := make(chan error, 1)
			go func() { served <- s.Serve(ctx, ln) }()
			url := "http://" + ln.Addr().String()
			clientDone := make(chan error, 1)
			if tt.request {
				go func() {
					resp, err := http.Post(url+"/v1/embeddings", "application/json", strings.NewReader(`{"input":"x"}`))
					if err == nil {
						resp.Body.Close()
					}
					clientDone <- err
				}()
				jstest.Eventually(t, 5*time.Second, 5*time.Millisecond, func() error {
					if s.Stats().InFlight == 0 {
						return errors.New("the request never reached the server")
					}
					return nil
				})
			} else {
				resp, err := http.Get(url + "/healthz")
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
			}
			start := time.Now()
			stop()
			select {
			case err := <-served:
				if (err != nil) != tt.wantErr {
					t.Errorf("Serve = %v, want error %v", err, tt.wantErr)
				}
			case <-time.After(3 * time.Second):
				t.Fatal("Serve did not return")
			}
			if took := time.Since(start); took > 2*time.Second {
				t.Errorf("shutdown took %v", took)
			}
			if tt.request {
				if err := <-clientDone; err == nil {
					t.Error("the cut request succeeded")
				}
				waitIdle(t, s)
			}
			http.DefaultClient.CloseIdleConnections()
			goleak.VerifyNone(t, before)
		})
	}
}
