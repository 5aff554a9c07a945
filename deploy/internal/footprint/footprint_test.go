package footprint

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/deploy"
	"github.com/jetflow-dev/jetflow/internal/health"
)

// The test binary doubles as a worker when FOOTPRINT_FAKE_WORKER is set: it runs a worker's
// health server on HEALTH_ADDR, logging as a worker does, and exits with FOOTPRINT_FAKE_EXIT on
// SIGTERM, or at once with "crash".
func TestMain(m *testing.M) {
	if mode, ok := os.LookupEnv("FOOTPRINT_FAKE_WORKER"); ok {
		os.Exit(fakeWorker(mode))
	}
	os.Exit(m.Run())
}

func fakeWorker(mode string) int {
	if mode == "crash" {
		return 3
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	hs := health.New(nil, log)
	hs.AddCheck("fake", func(context.Context) error { return nil })
	if err := hs.Serve(ctx, os.Getenv("HEALTH_ADDR")); err != nil {
		log.Error("serving health checks", "error", err)
		return 1
	}
	if mode == "exit-2" {
		return 2
	}
	return 0
}

func TestMeasure(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		binary  string
		mode    string
		check   func(t *testing.T, r Result)
		wantBad bool
	}{
		{name: "clean worker", binary: self, mode: "ok", check: func(t *testing.T, r Result) {
			if r.Ready <= 0 || r.IdleRSS <= 0 || r.IdleAnon <= 0 || r.IdleAnon > r.IdleRSS || r.Size <= 0 || !r.Exited || r.ExitCode != 0 {
				t.Errorf("result %+v: want ready, memory, size and exit 0", r)
			}
		}},
		{name: "unclean stop", binary: self, mode: "exit-2", wantBad: true, check: func(t *testing.T, r Result) {
			if !r.Exited || r.ExitCode != 2 {
				t.Errorf("exited %v code %d, want code 2", r.Exited, r.ExitCode)
			}
		}},
		{name: "crash at start", binary: self, mode: "crash", wantBad: true, check: func(t *testing.T, r Result) {
			if r.Err == nil || !strings.Contains(r.Err.Error(), "before it was ready") {
				t.Errorf("error %v, want exited before ready", r.Err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			r, err := Measure(t.Context(), nil, Target{
				Worker: deploy.Worker{Name: "fake"},
				Binary: tt.binary,
				Env: func(addr string) []string {
					return []string{"HEALTH_ADDR=" + addr, "FOOTPRINT_FAKE_WORKER=" + tt.mode}
				},
				Output: &out,
			})
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, r)
			// The test binary (with -race) is far above the size and memory budgets, and on a
			// busy machine takes longer than a worker's 50 ms to get ready: judge that it got
			// ready (check did) and the stop only.
			r.Size, r.IdleRSS, r.Ready = 0, 0, 0
			if bad := len(DefaultBudgets.Violations(r)) > 0; bad != tt.wantBad {
				t.Errorf("violations %q, want some: %v", DefaultBudgets.Violations(r), tt.wantBad)
			}
		})
	}
}

// TestMeasureMissingBinary: a worker without a binary cannot be measured, so the run fails
// instead of reporting the worker as fine.
func TestMeasureMissingBinary(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nothing")
	_, err := Measure(t.Context(), nil, Target{
		Worker: deploy.Worker{Name: "fake"},
		Binary: missing,
		Env:    func(string) []string { return nil },
		Output: io.Discard,
	})
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "make binaries") {
		t.Errorf("error %v, want one saying the binary does not exist and how to build it", err)
	}
}

func TestParseStatus(t *testing.T) {
	tests := []struct {
		name    string
		status  string
		want    Memory
		wantErr bool
	}{
		{name: "linux status", status: "Name:\tworker\nVmPeak:\t  900 kB\nVmHWM:\t   20480 kB\nVmRSS:\t   10240 kB\nRssAnon:\t    3072 kB\nRssFile:\t    7168 kB\nThreads:\t7\n",
			want: Memory{RSS: 10 * MiB, Peak: 20 * MiB, Anon: 3 * MiB}},
		{name: "kernel without RssAnon", status: "VmHWM:\t   20480 kB\nVmRSS:\t   10240 kB\n",
			want: Memory{RSS: 10 * MiB, Peak: 20 * MiB}},
		{name: "RssAnon in another unit", status: "VmHWM:\t 1 kB\nVmRSS:\t 1 kB\nRssAnon:\t 1 MB\n", wantErr: true},
		{name: "no high-water mark", status: "VmRSS:\t 10 kB\n", wantErr: true},
		{name: "other unit", status: "VmRSS:\t 10 MB\nVmHWM:\t 10 kB\n", wantErr: true},
		{name: "not a number", status: "VmRSS:\t x kB\nVmHWM:\t 10 kB\n", wantErr: true},
		{name: "negative", status: "VmRSS:\t -1 kB\nVmHWM:\t 10 kB\n", wantErr: true},
		{name: "empty", status: "", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseStatus([]byte(tt.status))
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("ParseStatus = %+v, %v; want %+v, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func FuzzParseStatus(f *testing.F) {
	f.Add([]byte("VmHWM:\t   20480 kB\nVmRSS:\t   10240 kB\n"))
	f.Add([]byte("VmRSS: 1 kB\nVmRSS: 2 kB\n"))
	f.Add([]byte("VmRSS:\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseStatus(data)
		if err == nil && (m.RSS < 0 || m.Peak < 0 || m.Anon < 0) {
			t.Errorf("negative memory %+v", m)
		}
	})
}

func TestViolations(t *testing.T) {
	// "w" has no row of its own: it is held to the default budget, as a new worker would be.
	ok := Result{Worker: "w", Size: 10 * MiB, Ready: 20 * time.Millisecond, IdleRSS: 15 * MiB, Load: 10, LoadRSS: 30 * MiB, Exited: true}
	tests := []struct {
		name string
		edit func(*Result)
		want string // a substring of the violations; "" means none
	}{
		{name: "within budget", edit: func(*Result) {}},
		{name: "binary too big", edit: func(r *Result) { r.Size = 21 * MiB }, want: "binary 21.0 MiB > 20.0 MiB"},
		{name: "slow start", edit: func(r *Result) { r.Ready = 50 * time.Millisecond }, want: "ready in 50ms >= 50ms"},
		{name: "idle memory", edit: func(r *Result) { r.IdleRSS = 21 * MiB }, want: "idle RSS 21.0 MiB > 20.0 MiB"},
		{name: "memory under load", edit: func(r *Result) { r.LoadRSS = 33 * MiB }, want: "under load 33.0 MiB > 32.0 MiB"},
		{name: "no load measured", edit: func(r *Result) { r.Load, r.LoadRSS = 0, 0 }},
		{name: "unclean exit", edit: func(r *Result) { r.ExitCode = 1 }, want: "SIGTERM"},
		{name: "hung at stop", edit: func(r *Result) { r.Exited = false }, want: "SIGTERM"},
		{name: "failed", edit: func(r *Result) { r.Err = errors.New("not ready") }, want: "not ready"},
		// The workers with a row are judged by it, not by the default.
		{name: "chat-handler within its own budget", edit: func(r *Result) { r.Worker, r.Size, r.IdleRSS = "chat-handler", 21*MiB, 21*MiB }},
		{name: "chat-handler binary over its own budget", edit: func(r *Result) { r.Worker, r.Size = "chat-handler", 23*MiB }, want: "binary 23.0 MiB > 22.0 MiB"},
		{name: "voice-assistant idle over its own budget", edit: func(r *Result) { r.Worker, r.IdleRSS = "voice-assistant", 23*MiB }, want: "idle RSS 23.0 MiB > 22.0 MiB"},
		{name: "pipeline-bridge within its own budget", edit: func(r *Result) { r.Worker, r.Size, r.IdleRSS = "pipeline-bridge", 24*MiB, 23*MiB }},
		{name: "pipeline-bridge idle over its own budget", edit: func(r *Result) { r.Worker, r.IdleRSS = "pipeline-bridge", 25*MiB }, want: "idle RSS 25.0 MiB > 24.0 MiB"},
		{name: "tts-module has no Milvus allowance", edit: func(r *Result) { r.Worker, r.Size = "tts-module", 21*MiB }, want: "binary 21.0 MiB > 20.0 MiB"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := ok
			tt.edit(&r)
			v := strings.Join(DefaultBudgets.Violations(r), "; ")
			if (tt.want == "") != (v == "") || !strings.Contains(v, tt.want) {
				t.Errorf("violations %q, want %q", v, tt.want)
			}
		})
	}
}

// TestBudgetsCoverTheWorkers: every worker deployed has a row and every row names a deployed
// worker, so a renamed worker does not silently fall back to the default, and every row sets
// every limit, since a zero limit is no limit.
func TestBudgetsCoverTheWorkers(t *testing.T) {
	deployed := map[string]bool{}
	for _, w := range append(deploy.Workers(), deploy.Gateway()) {
		deployed[w.Name] = true
		if _, ok := DefaultBudgets.Workers[w.Name]; !ok {
			t.Errorf("worker %s has no budget of its own", w.Name)
		}
	}
	for name, b := range DefaultBudgets.Workers {
		if !deployed[name] {
			t.Errorf("budget for %s, which is neither a worker in deploy.Workers() nor the gateway", name)
		}
		if b.Size <= 0 || b.Ready <= 0 || b.IdleRSS <= 0 || b.LoadRSS <= 0 {
			t.Errorf("budget of %s %+v leaves a limit unset", name, b)
		}
	}
	if d := DefaultBudgets.Default; d.Size <= 0 || d.Ready <= 0 || d.IdleRSS <= 0 || d.LoadRSS <= 0 {
		t.Errorf("default budget %+v leaves a limit unset", d)
	}
}

// TestDefaultBudgetIsTheTightest: a binary without a row gets no more than any that has one.
func TestDefaultBudgetIsTheTightest(t *testing.T) {
	d := DefaultBudgets.Default
	for name, b := range DefaultBudgets.Workers {
		if d.Size > b.Size || d.Ready > b.Ready || d.IdleRSS > b.IdleRSS || d.LoadRSS > b.LoadRSS {
			t.Errorf("default %+v allows more than %s's %+v", d, name, b)
		}
	}
}

func TestWriteTable(t *testing.T) {
	good := Result{Worker: "tts-module", Size: MiB, Ready: time.Millisecond, IdleRSS: MiB, IdleAnon: MiB / 2, Exited: true, LoadNote: "no load generator"}
	bad := good
	bad.Worker, bad.IdleRSS = "chat-handler", 100*MiB
	loaded := good
	loaded.Worker, loaded.Load, loaded.LoadDuration, loaded.LoadRSS, loaded.LoadNote = "pipeline-bridge", 300, time.Second, 30*MiB, "300 results"
	tests := []struct {
		name    string
		results []Result
		wantOK  bool
		want    []string
	}{
		{name: "all within", results: []Result{good}, wantOK: true, want: []string{
			"| tts-module | 1.0 MiB (<= 20.0 MiB) | 1.0 ms (< 50.0 ms) | 1.0 MiB (<= 20.0 MiB) | 0.5 MiB | - |", "| ok |"}},
		{name: "one over, judged by its own budget", results: []Result{good, bad}, want: []string{
			"| chat-handler | 1.0 MiB (<= 22.0 MiB) |", "**over budget**: idle RSS 100.0 MiB > 22.0 MiB"}},
		{name: "under load", results: []Result{loaded}, wantOK: true, want: []string{
			"| pipeline-bridge | 1.0 MiB (<= 25.0 MiB) |", "| 30.0 MiB (<= 32.0 MiB) | 300 requests in 1.0 s (300 results) |"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			ok, err := WriteTable(&b, DefaultBudgets, tt.results)
			if err != nil || ok != tt.wantOK {
				t.Fatalf("WriteTable = %v, %v; want %v", ok, err, tt.wantOK)
			}
			lines := strings.Split(strings.TrimSpace(b.String()), "\n")
			if len(lines) != 2+len(tt.results) {
				t.Errorf("%d lines, want header, separator and %d rows:\n%s", len(lines), len(tt.results), b.String())
			}
			for _, w := range tt.want {
				if !strings.Contains(b.String(), w) {
					t.Errorf("table lacks %q:\n%s", w, b.String())
				}
			}
		})
	}
}
