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
			if r.Ready <= 0 || r.IdleRSS <= 0 || r.Size <= 0 || !r.Exited || r.ExitCode != 0 {
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
			// busy machine takes longer than a worker's 100 ms to get ready: judge that it got
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
		{name: "linux status", status: "Name:\tworker\nVmPeak:\t  900 kB\nVmHWM:\t   20480 kB\nVmRSS:\t   10240 kB\nThreads:\t7\n",
			want: Memory{RSS: 10 * MiB, Peak: 20 * MiB}},
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
		if err == nil && (m.RSS < 0 || m.Peak < 0) {
			t.Errorf("negative memory %+v", m)
		}
	})
}

func TestViolations(t *testing.T) {
	ok := Result{Worker: "w", Size: 10 * MiB, Ready: 20 * time.Millisecond, IdleRSS: 15 * MiB, Load: 10, LoadRSS: 30 * MiB, Exited: true}
	tests := []struct {
		name string
		edit func(*Result)
		want string // a substring of the violations; "" means none
	}{
		{name: "within budget", edit: func(*Result) {}},
		{name: "big binary allowed for Milvus", edit: func(r *Result) { r.Big, r.Size = true, 30*MiB }},
		{name: "binary too big", edit: func(r *Result) { r.Size = 21 * MiB }, want: "binary"},
		{name: "slow start", edit: func(r *Result) { r.Ready = 100 * time.Millisecond }, want: "ready in"},
		{name: "idle memory", edit: func(r *Result) { r.IdleRSS = 21 * MiB }, want: "idle RSS"},
		{name: "memory under load", edit: func(r *Result) { r.LoadRSS = 41 * MiB }, want: "under load"},
		{name: "no load measured", edit: func(r *Result) { r.Load, r.LoadRSS = 0, 0 }},
		{name: "unclean exit", edit: func(r *Result) { r.ExitCode = 1 }, want: "SIGTERM"},
		{name: "hung at stop", edit: func(r *Result) { r.Exited = false }, want: "SIGTERM"},
		{name: "failed", edit: func(r *Result) { r.Err = errors.New("not ready") }, want: "not ready"},
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

func TestWriteTable(t *testing.T) {
	good := Result{Worker: "tts-module", Size: MiB, Ready: time.Millisecond, IdleRSS: MiB, Exited: true, LoadNote: "no load generator"}
	bad := good
	bad.Worker, bad.IdleRSS = "chat-handler", 100*MiB
	tests := []struct {
		name    string
		results []Result
		wantOK  bool
		want    []string
	}{
		{name: "all within", results: []Result{good}, wantOK: true, want: []string{"| tts-module |", "| ok |"}},
		{name: "one over", results: []Result{good, bad}, want: []string{"**over budget**: idle RSS 100.0 MiB"}},
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
