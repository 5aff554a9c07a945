package integration

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/jetflow-dev/jetflow/internal/breaker"
	"github.com/jetflow-dev/jetflow/internal/devkit/jstest"
	"github.com/jetflow-dev/jetflow/internal/devkit/standin"
	"github.com/jetflow-dev/jetflow/internal/devkit/syncbuf"
	"github.com/jetflow-dev/jetflow/internal/devkit/testplatform"
	"github.com/jetflow-dev/jetflow/internal/stage"
	"github.com/jetflow-dev/jetflow/internal/upstream/modelhttp"
	"github.com/jetflow-dev/jetflow/internal/upstream/speech"
	"github.com/jetflow-dev/jetflow/internal/worker"
	jetflowv1 "github.com/jetflow-dev/jetflow/proto/jetflow/v1"
	"github.com/jetflow-dev/jetflow/streams"
	"github.com/jetflow-dev/jetflow/workers/tts"
)

// headerReplayedFrom is the header jetflow dlq replay puts on a copy (dlq.HeaderReplayedFrom,
// which this package cannot import: it is internal to cmd/jetflow).
const headerReplayedFrom = "Jetflow-Replayed-From"

// replayModels is the stand-in model server behind a switch: while broken, a model request
// whose body holds one of the markers gets the answer a model server gives a request it
// cannot serve (400, permanent), or 503 (retryable) for markRetryable; calls counts the model
// requests per marker-carrying request id.
type replayModels struct {
	models http.Handler
	broken atomic.Bool
	mu     sync.Mutex
	calls  map[string]int
}

// Markers, put in a request's text: the route that fails for it while the models are broken.
const (
	markRetrieve  = "[fail-embeddings]"    // /v1/embeddings: chat-retrieve
	markGenerate  = "[fail-completions]"   // /v1/chat/completions: chat-generate
	markSpeech    = "[fail-speech]"        // /v1/audio/speech: tts
	markRetryable = "[fail-speech-503]"    // /v1/audio/speech, 503
	markCounted   = "[count-speech-calls]" // count the speech calls of this text's id
)

var replayMarkerRoutes = map[string]string{markRetrieve: "/v1/embeddings", markGenerate: "/v1/chat/completions", markSpeech: "/v1/audio/speech", markRetryable: "/v1/audio/speech"}

var replayCountedID = regexp.MustCompile(`id=(\S+)`)

func (f *replayModels) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	if bytes.Contains(body, []byte(markCounted)) {
		if m := replayCountedID.FindSubmatch(body); m != nil {
			f.mu.Lock()
			f.calls[strings.Trim(string(m[1]), `"\`)]++
			f.mu.Unlock()
		}
	}
	if f.broken.Load() {
		for mark, route := range replayMarkerRoutes {
			if r.URL.Path == route && bytes.Contains(body, []byte(mark)) {
				status := http.StatusBadRequest
				if mark == markRetryable {
					status = http.StatusServiceUnavailable
				}
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(status)
				fmt.Fprintf(w, `{"error":{"message":"injected by the test: %s","code":%d}}`, mark, status)
				return
			}
		}
	}
	f.models.ServeHTTP(w, r)
}

func newReplayModels(t *testing.T) (*replayModels, string) {
	t.Helper()
	models, err := standin.New(standin.Config{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	f := &replayModels{models: models, calls: map[string]int{}}
	f.broken.Store(true)
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv.URL
}

func (f *replayModels) callsOf(id string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[id]
}

// cli runs the jetflow binary against natsURL.
type jetflowCLI struct {
	bin, natsURL string
}

type jetflowRun struct {
	stdout, stderr string
	code           int
}

func (c jetflowCLI) run(t *testing.T, args ...string) jetflowRun {
	t.Helper()
	cmd := exec.CommandContext(jstest.Context(t), c.bin, args...)
	cmd.Env = []string{"NATS_URL=" + c.natsURL}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("running jetflow %q: %v", args, err)
	}
	return jetflowRun{stdout: stdout.String(), stderr: stderr.String(), code: cmd.ProcessState.ExitCode()}
}

// mustRun runs a command that must exit 0 and returns its standard output.
func (c jetflowCLI) mustRun(t *testing.T, args ...string) string {
	t.Helper()
	r := c.run(t, args...)
	if r.code != 0 {
		t.Fatalf("jetflow %q exited %d\nstdout:\n%s\nstderr:\n%s", args, r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

var replayCountsRE = regexp.MustCompile(`(?:replayed|would replay) (\d+), skipped (\d+), failed (\d+)`)

func replayCountsIn(t *testing.T, out string) (replayed, skipped, failed int) {
	t.Helper()
	m := replayCountsRE.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no counts in:\n%s", out)
	}
	replayed, _ = strconv.Atoi(m[1])
	skipped, _ = strconv.Atoi(m[2])
	failed, _ = strconv.Atoi(m[3])
	return replayed, skipped, failed
}

func replayStreamState(t *testing.T, ctx context.Context, js jetstream.JetStream, name string, filter ...jetstream.StreamInfoOpt) jetstream.StreamState {
	t.Helper()
	s, err := js.Stream(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx, filter...)
	if err != nil {
		t.Fatal(err)
	}
	return info.State
}

func replayRecords(t *testing.T, ctx context.Context, js jetstream.JetStream) uint64 {
	t.Helper()
	kv, err := js.KeyValue(ctx, streams.BucketDLQReplays)
	if err != nil {
		t.Fatal(err)
	}
	st, err := kv.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return st.Values()
}

// publish publishes m to subject as protobuf or, with asJSON, as protojson with its
// Content-Type, as a client would.
func publishRequest(t *testing.T, ctx context.Context, js jetstream.JetStream, subject string, m proto.Message, asJSON bool) {
	t.Helper()
	msg := &nats.Msg{Subject: subject, Header: nats.Header{}}
	var err error
	if asJSON {
		msg.Data, err = protojson.Marshal(m)
		msg.Header.Set(stage.HeaderContentType, "application/json")
	} else {
		msg.Data, err = proto.Marshal(m)
	}
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.PublishMsg(ctx, msg); err != nil {
		t.Fatalf("publishing to %s: %v", subject, err)
	}
}

// resultOnce checks that the results of one request are those of one run: one chat answer, or
// one of each tts chunk sequence with one last chunk.
func resultsOfOneRun(msgs []*jetstream.RawStreamMsg, kind string) error {
	if kind == streams.ResultKindChat {
		if len(msgs) != 1 {
			return fmt.Errorf("%d chat answers", len(msgs))
		}
		return nil
	}
	seen, last := map[int32]bool{}, 0
	for _, m := range msgs {
		var c jetflowv1.TtsAudioChunk
		var err error
		if strings.HasPrefix(m.Header.Get(stage.HeaderContentType), "application/json") {
			err = protojson.Unmarshal(m.Data, &c)
		} else {
			err = proto.Unmarshal(m.Data, &c)
		}
		if err != nil {
			return fmt.Errorf("decoding a tts chunk: %w", err)
		}
		if seen[c.GetSequence()] {
			return fmt.Errorf("chunk %d twice", c.GetSequence())
		}
		seen[c.GetSequence()] = true
		if c.GetLast() {
			last++
		}
	}
	if last != 1 {
		return fmt.Errorf("%d last chunks in %d", last, len(msgs))
	}
	return nil
}

// A thousand dead letters of three stages (chat-retrieve, chat-generate, tts; protobuf and
// protojson), replayed once their cause is fixed, produce every result exactly once: a dry run
// changes nothing, a replay killed halfway and run again neither loses nor doubles a message,
// and a second replay does nothing.
func TestReplayOfAThousandDeadLettersProducesEveryResultOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the jetflow binary")
	}
	p := testplatform.New(t)
	js, ctx := p.JS, p.Ctx
	jetflow := jetflowCLI{bin: buildBinary(t, "jetflow"), natsURL: p.URL()}
	models, modelsURL := newReplayModels(t)
	runWorkers(t, p.URL(), modelsURL)

	// The cause is present: every request is dead-lettered by the stage its marker names.
	const n = 1000
	type request struct{ kind, id string }
	requests := make([]request, 0, n)
	for i := range n {
		id := fmt.Sprintf("replay-%d", i)
		asJSON := i%2 == 1
		switch i % 3 {
		case 0:
			publishRequest(t, ctx, js, streams.SubjectChatRequest, &jetflowv1.ChatRequest{RequestId: id, Query: "What is JetStream? " + markRetrieve}, asJSON)
			requests = append(requests, request{streams.ResultKindChat, id})
		case 1:
			publishRequest(t, ctx, js, streams.SubjectChatRequest, &jetflowv1.ChatRequest{RequestId: id, Query: "How does KEDA scale? " + markGenerate}, asJSON)
			requests = append(requests, request{streams.ResultKindChat, id})
		case 2:
			publishRequest(t, ctx, js, streams.SubjectTTSRequest, &jetflowv1.TtsRequest{RequestId: id, Text: "hello " + markSpeech}, asJSON)
			requests = append(requests, request{streams.ResultKindTTS, id})
		}
	}
	start := time.Now()
	jstest.Eventually(t, 120*time.Second, 100*time.Millisecond, func() error {
		if got := replayStreamState(t, ctx, js, streams.StreamDeadLetter).Msgs; got < n {
			return fmt.Errorf("%d of %d requests dead-lettered", got, n)
		}
		return nil
	})
	t.Logf("%d requests dead-lettered in %v", n, time.Since(start))
	letters := replayStreamState(t, ctx, js, streams.StreamDeadLetter, jetstream.WithSubjectFilter(streams.SubjectDeadLetterAll)).Subjects
	for _, st := range []string{streams.ConsumerChatRetrieve, streams.ConsumerChatGenerate, streams.ConsumerTTS} {
		if letters[streams.DeadLetterSubject(st)] < n/3 {
			t.Fatalf("dead letters by stage: %v", letters)
		}
	}
	if got := replayStreamState(t, ctx, js, streams.StreamResults).Msgs; got != 0 {
		t.Fatalf("%d results while the models were broken", got)
	}
	lastSeqs := func() string {
		return fmt.Sprint(replayStreamState(t, ctx, js, streams.StreamChat).LastSeq, replayStreamState(t, ctx, js, streams.StreamTTS).LastSeq)
	}
	before := lastSeqs()

	models.broken.Store(false) // the cause is fixed

	out := jetflow.mustRun(t, "dlq", "replay", "--all", "--dry-run")
	if r, s, f := replayCountsIn(t, out); r != n || s != 0 || f != 0 || !strings.Contains(out, "nothing changed") {
		t.Fatalf("dry run: %d %d %d\n%s", r, s, f, out)
	}
	if after := lastSeqs(); after != before || replayRecords(t, ctx, js) != 0 {
		t.Fatalf("the dry run published (stage streams' last sequences %s, were %s) or recorded (%d)", after, before, replayRecords(t, ctx, js))
	}

	// A replay killed halfway, after some records and before the rest.
	cmd := exec.CommandContext(ctx, jetflow.bin, "dlq", "replay", "--all", "--rate", "500")
	cmd.Env = []string{"NATS_URL=" + p.URL()}
	var killedOut syncbuf.Buffer
	cmd.Stdout, cmd.Stderr = &killedOut, &killedOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	jstest.Eventually(t, 30*time.Second, 5*time.Millisecond, func() error {
		if got := replayRecords(t, ctx, js); got < n/3 {
			return fmt.Errorf("%d replays recorded", got)
		}
		return nil
	})
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	if got := replayRecords(t, ctx, js); got >= n {
		t.Fatalf("the replay finished (%d records) before it was killed:\n%s", got, killedOut.String())
	}

	t.Logf("killed the replay after %d records", replayRecords(t, ctx, js))
	start = time.Now()
	out = jetflow.mustRun(t, "dlq", "replay", "--all")
	r, s, f := replayCountsIn(t, out)
	t.Logf("the rerun took %v: %s", time.Since(start), strings.TrimSpace(out))
	if r+s != n || f != 0 || r == 0 || s == 0 {
		t.Fatalf("the rerun after the kill: replayed %d, skipped %d, failed %d\n%s", r, s, f, out)
	}

	// Every request has its result, once.
	subjectOf := func(rq request) string { return streams.ResultSubject(rq.kind, rq.id) }
	jstest.Eventually(t, 180*time.Second, 200*time.Millisecond, func() error {
		subjects := replayStreamState(t, ctx, js, streams.StreamResults, jetstream.WithSubjectFilter(streams.SubjectResultAll)).Subjects
		missing := 0
		for _, rq := range requests {
			if subjects[subjectOf(rq)] == 0 {
				missing++
			}
		}
		if missing > 0 {
			return fmt.Errorf("%d of %d requests have no result yet", missing, n)
		}
		return nil
	})
	t.Logf("every result arrived %v after the rerun began", time.Since(start))
	check := func() error {
		byRequest := map[string][]*jetstream.RawStreamMsg{}
		for _, m := range jstest.Stored(t, ctx, js, streams.StreamResults, "") {
			byRequest[m.Subject] = append(byRequest[m.Subject], m)
		}
		for _, rq := range requests {
			if err := resultsOfOneRun(byRequest[subjectOf(rq)], rq.kind); err != nil {
				return fmt.Errorf("request %s: %w", rq.id, err)
			}
		}
		return nil
	}
	if err := check(); err != nil {
		t.Fatal(err)
	}

	// A second replay does nothing.
	before = lastSeqs()
	out = jetflow.mustRun(t, "dlq", "replay", "--all")
	if r, s, f := replayCountsIn(t, out); r != 0 || s != n || f != 0 {
		t.Fatalf("second replay: replayed %d, skipped %d, failed %d\n%s", r, s, f, out)
	}
	if after := lastSeqs(); after != before {
		t.Fatalf("the second replay published: stage streams' last sequences %s, were %s", after, before)
	}
	if err := check(); err != nil {
		t.Fatal(err)
	}
}

// A replayed message whose cause is not fixed is dead-lettered again with its whole retry
// budget, not the attempts its dead letter had spent, and its new dead letter names the one it
// was replayed from. Both letters here were requeued copies (Jetflow-Attempts: 3) when they
// failed, as a message is after an upstream outage: a replay that kept that header would give
// the permanent one 4 attempts on its new letter and the retryable one 2 upstream calls.
func TestReplayedMessageWhoseCauseIsNotFixedFailsWithItsFullBudget(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the jetflow binary")
	}
	p := testplatform.New(t)
	nc, js, ctx := p.NC, p.JS, p.Ctx
	jetflow := jetflowCLI{bin: buildBinary(t, "jetflow"), natsURL: p.URL()}
	models, modelsURL := newReplayModels(t)

	// The tts stage as the worker runs it, with short retry delays so five attempts take
	// milliseconds, and a breaker that does not open on the injected 503s.
	client, err := speech.New(modelhttp.Config{BaseURL: modelsURL + "/v1"})
	if err != nil {
		t.Fatal(err)
	}
	spec := tts.NewSynthesis(client, breaker.NewSet("tts", breaker.Settings{ConsecutiveFailures: 1000}), tts.Config{}, nc.MaxPayload()).Spec()
	spec.Backoff = []time.Duration{10 * time.Millisecond}
	st, err := worker.NewStage(js, spec)
	if err != nil {
		t.Fatal(err)
	}
	jstest.Run(t, ctx, st.Run)
	set, err := streams.Load()
	if err != nil {
		t.Fatal(err)
	}
	_, ttsConsumer, _ := set.Consumer(streams.ConsumerTTS)
	maxDeliver := ttsConsumer.MaxDeliver

	for _, tt := range []struct {
		name, mark     string
		kind           string
		wantDeliveries uint64
		wantCalls      int // upstream calls of the replayed copy
	}{
		{"permanent", markSpeech, stage.KindPermanent, 1, 1},
		{"retryable", markRetryable, stage.KindExhausted, uint64(maxDeliver), maxDeliver},
	} {
		t.Run(tt.name, func(t *testing.T) {
			id := "budget-" + tt.name
			b, err := proto.Marshal(&jetflowv1.TtsRequest{RequestId: id, Text: "id=" + id + " " + tt.mark + " " + markCounted})
			if err != nil {
				t.Fatal(err)
			}
			// As the runtime requeues a message during an outage: attempts spent, origin kept.
			h := nats.Header{stage.HeaderAttempts: {"3"}, stage.HeaderRequeuedFrom: {streams.StreamTTS + ":99"}, stage.HeaderRequestID: {id}}
			if _, err := js.PublishMsg(ctx, &nats.Msg{Subject: streams.SubjectTTSRequest, Header: h, Data: b}); err != nil {
				t.Fatal(err)
			}
			first := waitReplayedDeadLetter(t, ctx, js, id, "")
			if first.Header.Get(stage.HeaderAttempts) != "3" {
				t.Fatalf("the first dead letter lost its %s: %v", stage.HeaderAttempts, first.Header)
			}
			callsBefore := models.callsOf(id)

			jetflow.mustRun(t, "dlq", "replay", strconv.FormatUint(first.Sequence, 10))
			ref := fmt.Sprintf("%s:%d", streams.StreamDeadLetter, first.Sequence)
			second := waitReplayedDeadLetter(t, ctx, js, id, ref)
			if got := second.Header.Get(stage.HeaderErrorKind); got != tt.kind {
				t.Errorf("the new dead letter is %s, want %s", got, tt.kind)
			}
			if got, _ := strconv.ParseUint(second.Header.Get(stage.HeaderDeliveries), 10, 64); got != tt.wantDeliveries {
				t.Errorf("the new dead letter says %s %d, want %d: the replay did not start with a fresh budget", stage.HeaderDeliveries, got, tt.wantDeliveries)
			}
			if calls := models.callsOf(id) - callsBefore; calls != tt.wantCalls {
				t.Errorf("the replayed copy called the model %d times, want %d", calls, tt.wantCalls)
			}
			for _, gone := range []string{stage.HeaderAttempts, stage.HeaderRequeuedFrom} {
				if v := second.Header.Get(gone); v != "" {
					t.Errorf("the replayed copy carried %s: %s", gone, v)
				}
			}
		})
	}
}

// waitDeadLetter waits for the dead letter of request id whose Jetflow-Replayed-From is from.
func waitReplayedDeadLetter(t *testing.T, ctx context.Context, js jetstream.JetStream, id, from string) *jetstream.RawStreamMsg {
	t.Helper()
	var found *jetstream.RawStreamMsg
	jstest.Eventually(t, 30*time.Second, 20*time.Millisecond, func() error {
		for _, m := range jstest.Stored(t, ctx, js, streams.StreamDeadLetter, streams.DeadLetterSubject(streams.ConsumerTTS)) {
			if m.Header.Get(stage.HeaderRequestID) == id && m.Header.Get(headerReplayedFrom) == from {
				found = m
				return nil
			}
		}
		return fmt.Errorf("no dead letter of %s replayed from %q yet", id, from)
	})
	return found
}
