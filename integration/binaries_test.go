package integration

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/internal/devkit/healthlog"
	"github.com/jetflow-dev/jetflow/internal/devkit/jstest"
	"github.com/jetflow-dev/jetflow/internal/devkit/natscli"
	"github.com/jetflow-dev/jetflow/internal/devkit/standin"
	"github.com/jetflow-dev/jetflow/internal/devkit/syncbuf"
	"github.com/jetflow-dev/jetflow/internal/devkit/testbin"
	"github.com/jetflow-dev/jetflow/internal/devkit/testplatform"
	"github.com/jetflow-dev/jetflow/platform"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if err := testbin.RemoveBuilt(); err != nil {
		fmt.Fprintf(os.Stderr, "removing the built binaries: %v\n", err)
	}
	os.Exit(code)
}

// buildBinary returns cmd/<name>'s binary: make binaries' when make test names it, else one
// built once per test binary.
func buildBinary(t *testing.T, name string) string {
	t.Helper()
	root := natscli.RepoRoot(t)
	if _, err := os.Stat(filepath.Join(root, "cmd", name)); err != nil {
		t.Fatalf("cmd/%s does not exist: %v", name, err)
	}
	return testbin.Path(t, name, "./cmd/"+name)
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
	cmd *exec.Cmd
	out *syncbuf.Buffer
	log *healthlog.Watcher // out, with the health server's address picked out
	// exited is closed once the process has exited; err is then its exit error.
	exited chan struct{}
	err    error
}

// start starts bin with env and kills it at the end of the test unless it has stopped.
func start(t *testing.T, bin string, env ...string) *process {
	t.Helper()
	cmd := exec.CommandContext(context.Background(), bin)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, env...)
	p := &process{cmd: cmd, out: &syncbuf.Buffer{}, exited: make(chan struct{})}
	p.log = healthlog.Watch(p.out)
	cmd.Stdout, cmd.Stderr = p.log, p.log
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", bin, err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			_ = cmd.Process.Kill()
			<-p.exited
			t.Logf("%s killed at the end of the test: %v", bin, p.err)
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
	case <-p.exited:
		if p.err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", p.err, p.out.String())
		}
	case <-time.After(within):
		t.Fatalf("still running %v after SIGTERM\n%s", within, p.out.String())
	}
}

// waitReady reads the health server's address from the log and polls /readyz until it
// answers 200.
func waitReady(t *testing.T, p *process) {
	t.Helper()
	ctx := jstest.Context(t)
	addrCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	healthAddr, err := p.log.Addr(addrCtx, p.exited)
	if err != nil {
		t.Fatalf("finding the health server: %v\n%s", err, p.out.String())
	}
	jstest.Eventually(t, 30*time.Second, 10*time.Millisecond, func() error {
		select {
		case <-p.exited:
			t.Fatalf("exited before it was ready: %v\n%s", p.err, p.out.String())
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

// workerEnv is the environment every worker needs in these tests: the health server takes any
// free port (waitReady reads which from the log), model URLs point at the stand-in models.
func workerEnv(natsURL, modelsURL string) []string {
	return []string{
		"NATS_URL=" + natsURL,
		"HEALTH_ADDR=" + healthlog.AnyPort,
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

// Each worker binary starts, reports ready on /readyz, and exits 0 soon after SIGTERM.
// How fast it gets ready is measured by make footprint, not asserted here.
func TestWorkerBinariesStartReadyAndStopOnSIGTERM(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binaries")
	}
	p := testplatform.New(t)
	models, err := standin.New(standin.Config{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	modelSrv := httptest.NewServer(models)
	t.Cleanup(modelSrv.Close)
	for _, name := range platform.Names() {
		t.Run(name, func(t *testing.T) {
			bin := buildBinary(t, name)
			proc := start(t, bin, workerEnv(p.URL(), modelSrv.URL)...)
			waitReady(t, proc)
			proc.stop(t, 30*time.Second)
			if !strings.Contains(proc.out.String(), `"msg":"stopped"`) {
				t.Errorf("no clean stop in the logs:\n%s", proc.out.String())
			}
		})
	}
}
