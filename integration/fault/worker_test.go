package fault

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/internal/devkit/healthlog"
)

// Worker is one replica of a worker binary run as a process. Kill and Restart keep its name
// and environment, as a pod restarted by its controller.
type Worker struct {
	Name string // the replica's name in logs, such as chat-handler-1
	t    *testing.T
	bin  string
	env  []string
	proc *process
	// kills counts the kill -9s.
	kills int
}

// WorkerEnv is what every worker needs here: the server, a health server on any free port (read
// back from the log), every model URL on the stand-in at modelsURL, and a pipeline for
// pipeline-bridge. extra ("KEY=value") is appended and wins over the defaults.
func WorkerEnv(natsURL, modelsURL string, extra ...string) []string {
	env := []string{
		"NATS_URL=" + natsURL,
		"HEALTH_ADDR=" + healthlog.AnyPort,
		"LOG_LEVEL=info",
		"LLM_URL=" + modelsURL + "/v1",
		"EMBEDDINGS_URL=" + modelsURL + "/v1",
		"RERANKER_URL=" + modelsURL,
		"STT_URL=" + modelsURL + "/v1",
		"TTS_URL=" + modelsURL + "/v1",
		`PIPELINES_JSON={"pipelines":{"nightly-eval":{"backend":"kfp","pipeline_id":"p-1","pipeline_version_id":"v-1"}}}`,
		"KFP_URL=" + modelsURL,
	}
	return append(env, extra...)
}

// StartWorker starts binary (chat-handler, stt-module...) as replica name with env and waits
// until its /readyz answers 200.
func StartWorker(t *testing.T, binary, name string, env []string) *Worker {
	t.Helper()
	return StartWorkers(t, binary, name, 1, env)[0]
}

// StartWorkers starts n replicas of binary, named prefix-1..prefix-n (prefix alone when n is
// 1), all at once, and waits until each is ready: a worker's readiness may wait on its model
// servers, which a scenario slows down.
func StartWorkers(t *testing.T, binary, prefix string, n int, env []string) []*Worker {
	t.Helper()
	bin := Binary(t, binary)
	ws := make([]*Worker, n)
	for i := range ws {
		name := prefix
		if n > 1 {
			name = fmt.Sprintf("%s-%d", prefix, i+1)
		}
		ws[i] = &Worker{Name: name, t: t, bin: bin, env: env}
		ws[i].launch()
	}
	for _, w := range ws {
		w.awaitReady()
	}
	return ws
}

func (w *Worker) start() {
	w.t.Helper()
	w.launch()
	w.awaitReady()
}

func (w *Worker) launch() {
	w.t.Helper()
	proc, err := startProcess(w.t, w.Name, w.bin, nil, w.env)
	if err != nil {
		w.t.Fatal(err)
	}
	w.proc = proc
}

func (w *Worker) awaitReady() {
	w.t.Helper()
	if err := waitReady(w.proc, 60*time.Second); err != nil {
		w.t.Fatalf("%s: %v\n%s", w.Name, err, tail(w.proc.out.String(), 3000))
	}
}

// Kill sends SIGKILL: the worker dies wherever it is, mid-call or mid-publish.
func (w *Worker) Kill() {
	w.t.Helper()
	if err := w.proc.signal(syscall.SIGKILL, 10*time.Second); err != nil {
		w.t.Fatal(err)
	}
	w.kills++
}

// Stop sends SIGTERM and expects a clean exit.
func (w *Worker) Stop() {
	w.t.Helper()
	if err := w.proc.signal(syscall.SIGTERM, 60*time.Second); err != nil {
		w.t.Fatal(err)
	}
}

// Restart starts the replica again after Kill or Stop and waits until it is ready.
func (w *Worker) Restart() {
	w.t.Helper()
	if w.proc.running() {
		w.t.Fatalf("restarting %s: it is still running", w.Name)
	}
	w.start()
}

// Running reports whether the process is up; a worker that exits by itself (it should not)
// shows here.
func (w *Worker) Running() bool { return w.proc.running() }

// Kills is how many times Kill was called.
func (w *Worker) Kills() int { return w.kills }

// Output is the current run's log.
func (w *Worker) Output() string { return w.proc.out.String() }

// waitReady reads the health server's address from the log and polls /readyz until it answers
// 200.
func waitReady(p *process, within time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	addr, err := p.log.Addr(ctx, p.exited)
	if err != nil {
		return fmt.Errorf("finding the health server: %w", err)
	}
	for {
		if !p.running() {
			return fmt.Errorf("exited before it was ready: %w", p.err)
		}
		err := readyz(ctx, "http://"+addr+"/readyz")
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("not ready within %v: %w", within, err)
		}
		time.Sleep(20 * time.Millisecond) // polling /readyz
	}
}

func readyz(ctx context.Context, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return errors.New(string(body))
	}
	return nil
}
