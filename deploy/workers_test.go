package deploy

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"github.com/jetflow-dev/jetflow/internal/devkit/healthlog"
	"github.com/jetflow-dev/jetflow/internal/devkit/jstest"
	"github.com/jetflow-dev/jetflow/internal/devkit/standin"
	"github.com/jetflow-dev/jetflow/internal/devkit/syncbuf"
	jetflowv1 "github.com/jetflow-dev/jetflow/proto/jetflow/v1"
	"github.com/jetflow-dev/jetflow/streams"
)

// workerBinEnv names a directory with the built workers (make binaries); without it the test
// that runs them is skipped, so that `go test` stays fast.
const workerBinEnv = "JETFLOW_WORKER_BIN"

// TestWorkersUnderProductionPermissions runs each real worker binary as its own NATS user
// against a server started from deploy/nats, sends it one request as the gateway, and checks
// that a result arrives and that the server refused the worker nothing. It catches a
// permission the hand-written list forgot for a call the code makes (a KV watch, a service).
func TestWorkersUnderProductionPermissions(t *testing.T) {
	dir := os.Getenv(workerBinEnv)
	if dir == "" {
		t.Skipf("set %s to a directory of built workers (make binaries) to run them", workerBinEnv)
	}
	env := startNATS(t)
	models := startModels(t)
	gw := env.connect(t, userGateway)
	for _, w := range Workers() {
		t.Run(w.Name, func(t *testing.T) {
			bin := filepath.Join(dir, w.Name)
			if _, err := os.Stat(bin); err != nil {
				t.Fatalf("no binary of %s in %s (make binaries): %v", w.Name, workerBinEnv, err)
			}
			ctx, cancel := context.WithTimeout(jstest.Context(t), 30*time.Second)
			defer cancel()
			// Subscribed before the worker starts, so that a watch it opens at once is seen too.
			watches := env.watchesOpened(t, w)
			logs := env.runWorker(ctx, t, w, bin, models)
			if req, ok := workerRequest(w.Name); ok {
				before := resultCount(ctx, t, env, w.ResultKind)
				data, err := proto.Marshal(req.msg)
				if err != nil {
					t.Fatal(err)
				}
				for _, subject := range req.subjects {
					if _, err := gw.js.Publish(ctx, subject, data); err != nil {
						t.Fatalf("publishing to %s as %s: %v", subject, userGateway, err)
					}
				}
				jstest.Eventually(t, 20*time.Second, 50*time.Millisecond, func() error {
					if n := resultCount(ctx, t, env, w.ResultKind); n <= before {
						return fmt.Errorf("no result on ai.result.%s.> yet; worker log:\n%s", w.ResultKind, logs.String())
					}
					return nil
				})
			}
			// Periodic work needs permissions too: the STT sweeper watches its bucket once per
			// sweep, the voice turns watch for the whole run.
			watches(ctx, logs)
			for _, s := range w.Services {
				if _, err := gw.nc.Request(s, nil, 5*time.Second); err != nil {
					t.Errorf("requesting %s: %v", s, err)
				}
			}
			if l := strings.ToLower(logs.String()); strings.Contains(l, "permissions violation") {
				t.Errorf("the server refused the worker something:\n%s", logs.String())
			}
		})
	}
	gw.noErrors(t)
}

// consumerCreatedPrefix is the server's advisory subject for a new consumer,
// <prefix>.<stream>.<consumer>; a KV watch creates one on the bucket's stream.
const consumerCreatedPrefix = "$JS.EVENT.ADVISORY.CONSUMER.CREATED."

// watchesOpened subscribes, as the admin, to the consumer-created advisories of the buckets w
// watches. The returned function waits until each bucket got a consumer, which is the server
// letting the worker's watch through.
func (e *natsEnv) watchesOpened(t *testing.T, w Worker) func(context.Context, *syncbuf.Buffer) {
	t.Helper()
	subs := make(map[string]*nats.Subscription, len(w.Watches))
	for _, bucket := range w.Watches {
		// nats.go names a bucket's stream KV_<bucket>.
		sub, err := e.nc.SubscribeSync(consumerCreatedPrefix + "KV_" + bucket + ".*")
		if err != nil {
			t.Fatalf("subscribing to the consumer advisories of bucket %s: %v", bucket, err)
		}
		t.Cleanup(func() { _ = sub.Unsubscribe() })
		subs[bucket] = sub
	}
	if err := e.nc.Flush(); err != nil {
		t.Fatalf("flushing the advisory subscriptions: %v", err)
	}
	return func(ctx context.Context, logs *syncbuf.Buffer) {
		t.Helper()
		for bucket, sub := range subs {
			wctx, cancel := context.WithTimeout(ctx, 15*time.Second)
			_, err := sub.NextMsgWithContext(wctx)
			cancel()
			if err != nil {
				t.Errorf("%s opened no watch of bucket %s: %v; worker log:\n%s", w.Name, bucket, err, logs.String())
			}
		}
	}
}

type request struct {
	subjects []string
	msg      proto.Message
}

// workerRequest is one request per worker kind; the pipeline bridge gets none (it would need a
// Kubernetes or KFP API).
func workerRequest(name string) (request, bool) {
	const rate = 16000
	switch name {
	case "tts-module":
		return request{[]string{streams.SubjectTTSRequest}, &jetflowv1.TtsRequest{RequestId: "real-tts", Text: "hello there"}}, true
	case "chat-handler":
		return request{[]string{streams.SubjectChatRequest}, &jetflowv1.ChatRequest{RequestId: "real-chat", Query: "what is jetflow", DisableRag: true}}, true
	case "voice-assistant":
		return request{[]string{streams.SubjectVoiceRequest}, &jetflowv1.VoiceRequest{
			RequestId: "real-voice", SessionId: "real-session", DisableRag: true,
			Audio:  standin.EncodeSpeech("what is jetflow", rate),
			Format: &jetflowv1.AudioFormat{Encoding: jetflowv1.AudioFormat_ENCODING_PCM16, SampleRate: rate, Channels: 1},
		}}, true
	case "stt-module":
		return request{[]string{streams.STTAudioSubject("real-session")}, &jetflowv1.SttAudioChunk{
			RequestId: "real-stt", SessionId: "real-session", Sequence: 0, SampleRate: rate, EndOfStream: true,
			Pcm: standin.EncodeSpeech("hello there", rate),
		}}, true
	}
	return request{}, false
}

func resultCount(ctx context.Context, t *testing.T, env *natsEnv, kind string) uint64 {
	t.Helper()
	s, err := env.admin.Stream(ctx, streams.StreamResults)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx, jetstream.WithSubjectFilter(streams.SubjectResultAll))
	if err != nil {
		t.Fatal(err)
	}
	var n uint64
	for subject, c := range info.State.Subjects {
		if strings.HasPrefix(subject, "ai.result."+kind+".") {
			n += c
		}
	}
	return n
}

// runWorker starts bin as worker w's NATS user (its nkey seed in a file, as the Secret mounts
// it), with extra variables (NAME=value) besides the common ones, waits until it is ready and
// stops it with SIGTERM at the end of the test.
func (e *natsEnv) runWorker(ctx context.Context, t *testing.T, w Worker, bin, models string, extra ...string) *syncbuf.Buffer {
	t.Helper()
	seed, err := e.keys[w.Name].Seed()
	if err != nil {
		t.Fatal(err)
	}
	seedFile := filepath.Join(t.TempDir(), "nkey")
	if err := os.WriteFile(seedFile, seed, 0o600); err != nil {
		t.Fatal(err)
	}
	logs := &syncbuf.Buffer{}
	out := healthlog.Watch(logs)
	// The process outlives the caller's context: it is stopped with SIGTERM at cleanup, and
	// killed only when the test's own context ends.
	procCtx, cancel := context.WithCancel(jstest.Context(t))
	t.Cleanup(cancel)
	cmd := exec.CommandContext(procCtx, bin)
	cmd.Env = []string{
		"NATS_URL=" + e.srv.ClientURL(), "NATS_NKEY=" + seedFile, "HEALTH_ADDR=" + healthlog.AnyPort, "LOG_LEVEL=info",
		"LLM_URL=" + models + "/v1", "LLM_MODEL=standin", "EMBEDDINGS_URL=" + models + "/v1",
		"RERANKER_URL=" + models + "/v1", "STT_URL=" + models + "/v1", "TTS_URL=" + models + "/v1",
		`PIPELINES_JSON={"pipelines":{"p":{"backend":"kfp","pipeline_id":"p","pipeline_version_id":"v"}}}`,
		"KFP_URL=http://127.0.0.1:9",
	}
	cmd.Env = append(cmd.Env, extra...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	var exitErr error // set before exited is closed
	go func() {
		exitErr = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
			if exitErr != nil {
				t.Errorf("%s stopped with %v; log:\n%s", w.Name, exitErr, logs.String())
			}
		case <-time.After(45 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
			t.Errorf("%s did not stop within 45s (killed: %v)", w.Name, exitErr)
		}
	})
	health, err := out.Addr(ctx, exited)
	if err != nil {
		t.Fatalf("finding the health server of %s: %v; log:\n%s", w.Name, err, logs.String())
	}
	jstest.Eventually(t, 15*time.Second, 10*time.Millisecond, func() error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+health+"/readyz", nil)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return fmt.Errorf("%w; log:\n%s", err, logs.String())
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("readyz %d; log:\n%s", resp.StatusCode, logs.String())
		}
		return nil
	})
	return logs
}

func startModels(t *testing.T) string {
	t.Helper()
	srv, err := standin.New(standin.Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := (&net.ListenConfig{}).Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	// Stopped after the workers, whose cleanups were registered later and so run first.
	jstest.Run(t, jstest.Context(t), func(ctx context.Context) error { return srv.Serve(ctx, ln) })
	return "http://" + ln.Addr().String()
}
