package healthlog_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/internal/devkit/healthlog"
	"github.com/jetflow-dev/jetflow/internal/devkit/jstest"
	"github.com/jetflow-dev/jetflow/internal/devkit/syncbuf"
	"github.com/jetflow-dev/jetflow/internal/health"
)

// byteByByte splits every write, as a pipe may, so that lines arrive in pieces.
type byteByByte struct{ w io.Writer }

func (b byteByByte) Write(p []byte) (int, error) {
	for i := range p {
		if _, err := b.w.Write(p[i : i+1]); err != nil {
			return i, err
		}
	}
	return len(p), nil
}

// The real health server on AnyPort, logging as a worker does: the address read from its log
// is the one it serves on, and the log passes through untouched.
func TestAddrOfTheHealthServer(t *testing.T) {
	var out syncbuf.Buffer
	w := healthlog.Watch(&out)
	log := slog.New(slog.NewJSONHandler(byteByByte{w}, nil)).With("service", "test-worker")
	log.Info("started", "runners", 1)
	hs := health.New(nil, log)
	hs.AddCheck("test", func(context.Context) error { return nil })
	ctx := jstest.Context(t)
	jstest.Run(t, ctx, func(ctx context.Context) error { return hs.Serve(ctx, healthlog.AnyPort) })

	addr, err := w.Addr(ctx, nil)
	if err != nil {
		t.Fatalf("Addr: %v", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/readyz", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("asking the logged address %s: %v", addr, err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET /readyz on %s = %d, want 200", addr, resp.StatusCode)
	}
	if got := out.String(); !strings.Contains(got, `"msg":"started"`) || !strings.Contains(got, addr) {
		t.Errorf("the output was not passed on:\n%s", got)
	}
}

func TestAddrIgnoresOtherLines(t *testing.T) {
	tests := []struct {
		name   string
		output string
	}{
		{"another message", `{"msg":"started","addr":"127.0.0.1:1"}` + "\n"},
		{"no address", `{"msg":"health server listening"}` + "\n"},
		{"text, not JSON", `level=INFO msg="health server listening" addr=127.0.0.1:1` + "\n"},
		{"unfinished line", `{"msg":"health server listening","addr":"127.0.0.1:1"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := healthlog.Watch(io.Discard)
			if _, err := io.WriteString(w, tt.output); err != nil {
				t.Fatal(err)
			}
			exited := make(chan struct{})
			close(exited)
			if addr, err := w.Addr(jstest.Context(t), exited); !errors.Is(err, healthlog.ErrExited) {
				t.Fatalf("Addr = %q, %v; want ErrExited", addr, err)
			}
		})
	}
}

// The line may be the last the worker wrote before it exited: it is still found.
func TestAddrLoggedJustBeforeExit(t *testing.T) {
	w := healthlog.Watch(io.Discard)
	if _, err := io.WriteString(w, "panic: not a log line\n"+`{"msg":"health server listening","addr":"127.0.0.1:8081"}`+"\n"); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	close(exited)
	if addr, err := w.Addr(jstest.Context(t), exited); err != nil || addr != "127.0.0.1:8081" {
		t.Fatalf("Addr = %q, %v; want 127.0.0.1:8081", addr, err)
	}
}

func TestAddrGivesUpWithItsContext(t *testing.T) {
	ctx, cancel := context.WithTimeout(jstest.Context(t), 10*time.Millisecond)
	defer cancel()
	if _, err := healthlog.Watch(io.Discard).Addr(ctx, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Addr = %v, want context.DeadlineExceeded", err)
	}
}
