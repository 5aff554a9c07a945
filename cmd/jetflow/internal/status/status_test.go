package status

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"

	"github.com/jetflow-dev/jetflow/internal/devkit/jstest"
	"github.com/jetflow-dev/jetflow/internal/devkit/testplatform"
	"github.com/jetflow-dev/jetflow/internal/envconfig"
	"github.com/jetflow-dev/jetflow/streams"
)

func runMain(ctx context.Context, env map[string]string, args ...string) (code int, stdout, stderr string) {
	var out, errOut strings.Builder
	code = Main(ctx, args, &out, &errOut, envconfig.Map(env))
	return code, out.String(), errOut.String()
}

func TestMainUsage(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout string
		wantStderr string
	}{
		{name: "help", args: []string{"--help"}, wantCode: ExitHealthy, wantStdout: "Exit status:"},
		{name: "short help", args: []string{"-h"}, wantCode: ExitHealthy, wantStdout: "--dlq-window"},
		{name: "unknown output", args: []string{"-o", "yaml"}, wantCode: ExitError, wantStderr: `-o "yaml": want table or json`},
		{name: "unknown flag", args: []string{"--all"}, wantCode: ExitError, wantStderr: "jetflow status --help"},
		{name: "argument", args: []string{"tts"}, wantCode: ExitError, wantStderr: `unexpected argument "tts"`},
		{name: "zero interval", args: []string{"--watch", "--interval", "0s"}, wantCode: ExitError, wantStderr: "--interval 0s: want a positive duration"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runMain(t.Context(), nil, tt.args...)
			if code != tt.wantCode || !strings.Contains(stdout, tt.wantStdout) || !strings.Contains(stderr, tt.wantStderr) {
				t.Errorf("exit %d, stdout %q, stderr %q; want %d, %q, %q", code, stdout, stderr, tt.wantCode, tt.wantStdout, tt.wantStderr)
			}
		})
	}
}

func TestMainWithoutAServerExits2(t *testing.T) {
	code, _, stderr := runMain(t.Context(), map[string]string{"NATS_URL": "nats://127.0.0.1:1", "NATS_CONNECT_TIMEOUT": "200ms"})
	if code != ExitError || !strings.Contains(stderr, "connecting to NATS") {
		t.Errorf("exit %d, stderr %q; want 2 and the connection error", code, stderr)
	}
}

// An idle platform with nothing wrong is healthy, as a table and as JSON.
func TestMainHealthyPlatform(t *testing.T) {
	p := testplatform.New(t)
	env := map[string]string{"NATS_URL": p.URL()}
	code, stdout, stderr := runMain(p.Ctx, env)
	if code != ExitHealthy || !strings.Contains(stdout, "healthy:") || stderr != "" {
		t.Fatalf("exit %d, stdout:\n%s\nstderr: %s", code, stdout, stderr)
	}
	code, stdout, _ = runMain(p.Ctx, env, "-o", "json")
	var r Report
	if err := json.Unmarshal([]byte(stdout), &r); err != nil || code != ExitHealthy || !r.Healthy {
		t.Fatalf("exit %d, JSON %v:\n%s", code, err, stdout)
	}
	set, err := streams.Load()
	if err != nil {
		t.Fatal(err)
	}
	for i, d := range set.Consumers() {
		if s := r.Stages[i]; s.Stage != d.Config.Durable || s.Stream != d.Stream {
			t.Errorf("stage %d is %s on %s, want %s on %s", i, s.Stage, s.Stream, d.Config.Durable, d.Stream)
		}
	}
}

// frames is stdout for --watch: it counts the tables drawn and ends the watch after the
// wanted number.
type frames struct {
	mu     sync.Mutex
	b      strings.Builder
	n      int
	want   int
	cancel context.CancelFunc
}

func (f *frames) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.b.Write(p)
	if strings.Contains(string(p), ansiHome) || strings.HasPrefix(string(p), "{") {
		if f.n++; f.n == f.want {
			f.cancel()
		}
	}
	return len(p), nil
}

// --watch redraws in place until interrupted and exits as its last table says; with -o json it
// writes one JSON document per line.
func TestMainWatch(t *testing.T) {
	p := testplatform.New(t)
	if _, err := p.JS.Publish(p.Ctx, streams.DeadLetterSubject(streams.ConsumerTTS), []byte("dead")); err != nil {
		t.Fatal(err)
	}
	env := envconfig.Map(map[string]string{"NATS_URL": p.URL()})
	for _, output := range []string{"table", "json"} {
		t.Run(output, func(t *testing.T) {
			ctx, cancel := context.WithCancel(jstest.Context(t))
			defer cancel()
			out := &frames{want: 3, cancel: cancel}
			var errOut strings.Builder
			code := Main(ctx, []string{"--watch", "--interval", "20ms", "-o", output}, out, &errOut, env)
			text := out.b.String()
			if code != ExitUnhealthy {
				t.Errorf("exit %d, want 1 for the growing dead letters; stderr %q", code, errOut.String())
			}
			switch output {
			case "table":
				if strings.Count(text, ansiClearScreen) != 1 || strings.Count(text, ansiHome) < 3 || strings.Count(text, "dead letters growing") < 3 {
					t.Errorf("want the screen cleared once and three tables redrawn in place:\n%q", text)
				}
			case "json":
				lines := strings.Split(strings.TrimSpace(text), "\n")
				for _, l := range lines {
					var r Report
					if err := json.Unmarshal([]byte(l), &r); err != nil || r.Healthy {
						t.Errorf("line %q: %v", l, err)
					}
				}
				if len(lines) < 3 || strings.Contains(text, ansiHome) {
					t.Errorf("want three JSON lines and no terminal codes:\n%q", text)
				}
			}
		})
	}
}
