package integration

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetflow-dev/jetflow/internal/devkit/jstest"
	"github.com/jetflow-dev/jetflow/internal/devkit/natscli"
	"github.com/jetflow-dev/jetflow/internal/devkit/standin"
	"github.com/jetflow-dev/jetflow/internal/devkit/syncbuf"
	"github.com/jetflow-dev/jetflow/streams"
)

var (
	buildMu  sync.Mutex
	builtDir string // made by buildBinary, removed by TestMain
)

func TestMain(m *testing.M) {
	code := m.Run()
	if builtDir != "" {
		if err := os.RemoveAll(builtDir); err != nil {
			fmt.Fprintf(os.Stderr, "removing the built binaries: %v\n", err)
		}
	}
	os.Exit(code)
}

// buildBinary builds cmd/<name> once per test binary, as `make binaries` does.
func buildBinary(t *testing.T, name string) string {
	t.Helper()
	// make test builds them once with the release flags (make binaries) and says where.
	if dir := os.Getenv("JETFLOW_WORKER_BIN"); dir != "" {
		if bin := filepath.Join(dir, name); fileExists(bin) {
			return bin
		}
	}
	root := natscli.RepoRoot(t)
	if _, err := os.Stat(filepath.Join(root, "cmd", name)); err != nil {
		t.Fatalf("cmd/%s does not exist: %v", name, err)
	}
	buildMu.Lock()
	defer buildMu.Unlock()
	if builtDir == "" {
		dir, err := os.MkdirTemp("", "jetflow-bin-*")
		if err != nil {
			t.Fatal(err)
		}
		builtDir = dir
	}
	bin := filepath.Join(builtDir, name)
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	// The flags of `go vet`'s compile, so the packages it compiled are reused from the cache;
	// the release flags (-trimpath, CGO_ENABLED=0) are make binaries' and the Dockerfile's.
	cmd := exec.CommandContext(context.Background(), "go", "build", "-ldflags=-s -w", "-o", bin, "./cmd/"+name)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building cmd/%s: %v\n%s", name, err, out)
	}
	return bin
}

func fileExists(path string) bool {
	info, err := os.Stat(path)
	return err == nil && !info.IsDir()
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func get(ctx context.Context, url string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
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

// process is a running binary with its combined output.
type process struct {
	cmd  *exec.Cmd
	out  *syncbuf.Buffer
	done chan error
}

func start(t *testing.T, bin string, env ...string) *process {
	t.Helper()
	cmd := exec.CommandContext(context.Background(), bin)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, env...)
	p := &process{cmd: cmd, out: &syncbuf.Buffer{}, done: make(chan error, 1)}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", bin, err)
	}
	go func() { p.done <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			if err := <-p.done; err != nil {
				t.Logf("%s killed at the end of the test: %v", bin, err)
			}
		}
	})
	return p
}

// stop sends SIGTERM and waits for a clean exit.
func (p *process) stop(t *testing.T, within time.Duration) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}
	select {
	case err := <-p.done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, p.out.String())
		}
	case <-time.After(within):
		t.Fatalf("still running %v after SIGTERM\n%s", within, p.out.String())
	}
}

// waitReady polls /readyz until it answers 200.
func waitReady(t *testing.T, p *process, healthAddr string) {
	t.Helper()
	ctx := jstest.Context(t)
	jstest.Eventually(t, 30*time.Second, 10*time.Millisecond, func() error {
		select {
		case err := <-p.done:
			p.done <- err
			return fmt.Errorf("exited early: %v\n%s", err, p.out.String())
		default:
		}
		code, body, err := get(ctx, "http://"+healthAddr+"/readyz")
		if err != nil {
			return err
		}
		if code != http.StatusOK {
			return errors.New(body)
		}
		return nil
	})
}

// workerEnv is the environment every worker needs in these tests; model URLs point at the
// stand-in models.
func workerEnv(natsURL, healthAddr, modelsURL string) []string {
	return []string{
		"NATS_URL=" + natsURL,
		"HEALTH_ADDR=" + healthAddr,
		"LOG_LEVEL=debug",
		"LLM_URL=" + modelsURL + "/v1",
		"EMBEDDINGS_URL=" + modelsURL + "/v1",
		"RERANKER_URL=" + modelsURL,
		"STT_URL=" + modelsURL + "/v1",
		"TTS_URL=" + modelsURL + "/v1",
		`PIPELINES_JSON={"pipelines":{"nightly-eval":{"backend":"kfp","pipeline_id":"p-1","pipeline_version_id":"v-1"}}}`,
		"KFP_URL=" + modelsURL,
	}
}

// applyStreams creates every stream and consumer on the server.
func applyStreams(t *testing.T, js jetstream.JetStream) {
	t.Helper()
	set, err := streams.Load()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := streams.Apply(jstest.Context(t), js, set); err != nil {
		t.Fatal(err)
	}
}

// workerBinaries are the five services, each its own lean binary.
var workerBinaries = []string{"chat-handler", "tts-module", "pipeline-bridge", "stt-module", "voice-assistant"}

// Each worker binary starts, reports ready on /readyz, and exits 0 soon after SIGTERM.
// How fast it gets ready is measured by make footprint, not asserted here.
func TestWorkerBinariesStartReadyAndStopOnSIGTERM(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binaries")
	}
	srv := jstest.Server(t)
	_, js := jstest.Connect(t, srv)
	applyStreams(t, js)
	models, err := standin.New(standin.Config{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	modelSrv := httptest.NewServer(models)
	t.Cleanup(modelSrv.Close)
	for _, name := range workerBinaries {
		t.Run(name, func(t *testing.T) {
			bin := buildBinary(t, name)
			health := freePort(t)
			p := start(t, bin, workerEnv(srv.ClientURL(), health, modelSrv.URL)...)
			waitReady(t, p, health)
			p.stop(t, 30*time.Second)
			if !strings.Contains(p.out.String(), `"msg":"stopped"`) {
				t.Errorf("no clean stop in the logs:\n%s", p.out.String())
			}
		})
	}
}
