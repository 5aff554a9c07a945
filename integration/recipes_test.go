package integration

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"github.com/jetflow-dev/jetflow/internal/devkit/jstest"
	"github.com/jetflow-dev/jetflow/internal/devkit/natscli"
	"github.com/jetflow-dev/jetflow/internal/devkit/standin"
	"github.com/jetflow-dev/jetflow/internal/devkit/testplatform"
	"github.com/jetflow-dev/jetflow/internal/envconfig"
	"github.com/jetflow-dev/jetflow/internal/stage"
	"github.com/jetflow-dev/jetflow/internal/worker"
	"github.com/jetflow-dev/jetflow/platform"
	jetflowv1 "github.com/jetflow-dev/jetflow/proto/jetflow/v1"
	"github.com/jetflow-dev/jetflow/streams"
)

// recipeRequestID is the request id of the README's hand-driven TTS request, which the replay
// recipe replays.
const recipeRequestID = "r-42"

// replayDropped are the headers the README's replay table says to drop: a replay that carried
// one of them would start with its retries spent, reuse the original's output ids, or be
// deduplicated against the dead letter.
var replayDropped = []string{
	stage.HeaderAttempts, stage.HeaderRequeuedFrom,
	stage.HeaderError, stage.HeaderErrorKind, stage.HeaderStage, stage.HeaderOriginalSubject,
	stage.HeaderOriginalStream, stage.HeaderStreamSeq, stage.HeaderDeliveries, stage.HeaderFailedAt,
	stage.HeaderOriginalMsgID, stage.HeaderPayloadTruncated,
}

// recipeRig is a server with the platform's streams, stand-in models, and the workers the
// recipes act on, each started through its own Build as its binary would be.
type recipeRig struct {
	p      *testplatform.Platform
	models string
	cli    natscli.Runner
	all    map[string]natscli.Recipe
}

func newRecipeRig(t *testing.T) *recipeRig {
	t.Helper()
	p := testplatform.New(t)
	models, err := standin.New(standin.Config{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	modelSrv := httptest.NewServer(models)
	t.Cleanup(modelSrv.Close)
	return &recipeRig{p: p, models: modelSrv.URL, cli: natscli.New(t, p.URL()), all: natscli.ReadmeRecipes(t)}
}

// start runs one worker with the test environment, env overriding it, until stop or the end of
// the test.
func (r *recipeRig) start(t *testing.T, name string, env map[string]string) (stop func() error) {
	t.Helper()
	w, ok := platform.ByName(name)
	if !ok {
		t.Fatalf("platform.All has no %s", name)
	}
	vars := map[string]string{}
	for _, kv := range workerEnv(r.p.URL(), r.models) {
		k, v, _ := strings.Cut(kv, "=")
		vars[k] = v
	}
	vars["LOG_LEVEL"] = "warn"
	for k, v := range env {
		vars[k] = v
	}
	return jstest.Run(t, r.p.Ctx, func(ctx context.Context) error {
		if err := worker.Run(ctx, w.Name, envconfig.Map(vars), slog.New(slog.DiscardHandler), w.Build); err != nil {
			return fmt.Errorf("%s: %w", w.Name, err)
		}
		return nil
	})
}

func (r *recipeRig) recipe(t *testing.T, name string) natscli.Recipe {
	t.Helper()
	rec, ok := r.all[name]
	if !ok {
		t.Fatalf("the README has no recipe %q", name)
	}
	return rec
}

// run runs the README's recipe name and returns what each of its commands printed.
func (r *recipeRig) run(t *testing.T, name string, values map[string]string) []string {
	t.Helper()
	return r.cli.RunRecipe(r.p.Ctx, t, r.recipe(t, name), values)
}

// result waits for the last result on subject in AI_RESULTS.
func (r *recipeRig) result(t *testing.T, subject string) *jetstream.RawStreamMsg {
	t.Helper()
	results, err := r.p.JS.Stream(r.p.Ctx, streams.StreamResults)
	if err != nil {
		t.Fatal(err)
	}
	var msg *jetstream.RawStreamMsg
	jstest.Eventually(t, 30*time.Second, 50*time.Millisecond, func() error {
		msg, err = results.GetLastMsgForSubject(r.p.Ctx, subject)
		return err
	})
	return msg
}

func (r *recipeRig) consumerInfo(t *testing.T, stream, consumer string) *jetstream.ConsumerInfo {
	t.Helper()
	c, err := r.p.JS.Consumer(r.p.Ctx, stream, consumer)
	if err != nil {
		t.Fatal(err)
	}
	info, err := c.Info(r.p.Ctx)
	if err != nil {
		t.Fatal(err)
	}
	return info
}

// Every recipe of the README's operator section that this package runs is run here, in the order
// an operator would meet them, and its effect checked.
func TestReadmeRecipes(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the nats CLI")
	}
	r := newRecipeRig(t)
	r.start(t, "chat-handler", nil)
	r.start(t, "stt-module", nil)
	// tts-module starts misconfigured, so that the hand-driven request is dead-lettered for a
	// cause an operator fixes: a model URL that answers 404, which is permanent.
	stopTTS := r.start(t, "tts-module", map[string]string{"TTS_URL": r.models + "/mistyped/v1"})

	t.Run("consumer-state", func(t *testing.T) {
		out := r.run(t, "consumer-state", nil)
		for _, c := range []string{streams.ConsumerChatRetrieve, streams.ConsumerChatGenerate} {
			if !strings.Contains(out[0], c) {
				t.Errorf("nats consumer report %s lacks consumer %s:\n%s", streams.StreamChat, c, out[0])
			}
		}
		for _, want := range []string{"Information for Consumer " + streams.StreamChat + " > " + streams.ConsumerChatRetrieve, "Waiting Pulls:", "Max Ack Pending:"} {
			if !strings.Contains(out[1], want) {
				t.Errorf("nats consumer info lacks %q:\n%s", want, out[1])
			}
		}
		for _, want := range []string{"Unprocessed", "Ack Pending", "Redelivered"} {
			if !strings.Contains(out[0], want) {
				t.Errorf("nats consumer report lacks column %q:\n%s", want, out[0])
			}
		}
	})

	// The fixed tts-module belongs to the whole test, not to the subtest that starts it: the
	// later recipes need it.
	fixTTS := func() error {
		if err := stopTTS(); err != nil {
			return fmt.Errorf("stopping the misconfigured tts-module: %w", err)
		}
		r.start(t, "tts-module", nil)
		return nil
	}
	t.Run("replay-one", func(t *testing.T) { testReplayOne(t, r, fixTTS) })

	t.Run("reread-results", func(t *testing.T) {
		r.result(t, streams.ResultSubject(streams.ResultKindTTS, recipeRequestID)) // from replay-one
		out := r.run(t, "reread-results", nil)
		if want := streams.ResultSubject(streams.ResultKindTTS, recipeRequestID); !strings.Contains(out[1], want) {
			t.Errorf("nats consumer next read no result of %s:\n%s", want, out[1])
		}
		if _, err := r.p.JS.Consumer(r.p.Ctx, streams.StreamResults, "reread-tts"); !errors.Is(err, jetstream.ErrConsumerNotFound) {
			t.Errorf("the recipe's consumer is still there after nats consumer rm: %v", err)
		}
	})

	t.Run("pause-resume", func(t *testing.T) { testPauseResume(t, r) })

	t.Run("move-back", func(t *testing.T) { testMoveBack(t, r) })
}

// The replay recipe: the README's hand-driven request dead-letters while TTS_URL is wrong; with
// it fixed, the recipe's nats pub produces the request's result, and no second dead letter.
func testReplayOne(t *testing.T, r *recipeRig, fixTTS func() error) {
	checkReplayHeaders(t, r.recipe(t, "replay-one"))

	r.run(t, "drive-by-hand", nil)
	dlqSubject := streams.DeadLetterSubject(streams.ConsumerTTS)
	var dead *jetstream.RawStreamMsg
	jstest.Eventually(t, 30*time.Second, 50*time.Millisecond, func() error {
		stored := jstest.Stored(t, r.p.Ctx, r.p.JS, streams.StreamDeadLetter, dlqSubject)
		if len(stored) == 0 {
			return errors.New("the hand-driven request is not dead-lettered yet")
		}
		dead = stored[0]
		return nil
	})
	if kind := dead.Header.Get(stage.HeaderErrorKind); kind != stage.KindPermanent {
		t.Fatalf("dead letter kind %q (%s), want %s", kind, dead.Header.Get(stage.HeaderError), stage.KindPermanent)
	}

	// The operator fixes TTS_URL and restarts tts-module.
	if err := fixTTS(); err != nil {
		t.Fatal(err)
	}

	seq := strconv.FormatUint(dead.Sequence, 10)
	out := r.run(t, "replay-one", map[string]string{"SEQ": seq})
	for _, want := range []string{stage.HeaderOriginalSubject + ": " + streams.SubjectTTSRequest, `"request_id":"` + recipeRequestID + `"`} {
		if !strings.Contains(out[0], want) {
			t.Errorf("nats stream get %s %s lacks %q:\n%s", streams.StreamDeadLetter, seq, want, out[0])
		}
	}
	msg := r.result(t, streams.ResultSubject(streams.ResultKindTTS, recipeRequestID))
	chunk := &jetflowv1.TtsAudioChunk{}
	if err := stage.Decode(msg.Header, msg.Data, chunk); err != nil {
		t.Fatalf("decoding the replay's result: %v", err)
	}
	if !chunk.GetLast() || chunk.GetRequestId() != recipeRequestID {
		t.Errorf("last result of the replay: %v, want the last chunk of %s", chunk, recipeRequestID)
	}
	if n := len(jstest.Stored(t, r.p.Ctx, r.p.JS, streams.StreamDeadLetter, dlqSubject)); n != 1 {
		t.Errorf("%d dead letters on %s after the replay, want the 1 replayed", n, dlqSubject)
	}

	// The replay's Nats-Msg-Id makes publishing it twice within the duplicate window a no-op.
	lastSeq := func() uint64 {
		s, err := r.p.JS.Stream(r.p.Ctx, streams.StreamTTS)
		if err != nil {
			t.Fatal(err)
		}
		info, err := s.Info(r.p.Ctx)
		if err != nil {
			t.Fatal(err)
		}
		return info.State.LastSeq
	}
	before := lastSeq()
	cmds, err := r.recipe(t, "replay-one").Commands(map[string]string{"SEQ": seq})
	if err != nil {
		t.Fatal(err)
	}
	r.cli.RunInTerminal(r.p.Ctx, t, cmds[len(cmds)-1]...)
	if after := lastSeq(); after != before {
		t.Errorf("publishing the replay again stored it again (%s last sequence %d -> %d)", streams.StreamTTS, before, after)
	}
}

// checkReplayHeaders holds the replay recipe to the README's header table: every nats pub in it
// sets Content-Type and a Nats-Msg-Id of its own, and none of the headers to drop.
func checkReplayHeaders(t *testing.T, rec natscli.Recipe) {
	t.Helper()
	cmds, err := rec.Commands(map[string]string{"SEQ": "7"})
	if err != nil {
		t.Fatal(err)
	}
	pubs := 0
	for _, args := range cmds {
		if args[0] != "pub" {
			continue
		}
		pubs++
		headers := map[string]string{}
		for i, a := range args {
			if (a == "-H" || a == "--header") && i+1 < len(args) {
				k, v, _ := strings.Cut(args[i+1], ":")
				headers[k] = v
			}
		}
		if headers[stage.HeaderContentType] == "" {
			t.Errorf("the replay recipe drops %s: %q", stage.HeaderContentType, args)
		}
		if id := headers[jetstream.MsgIDHeader]; id == "" || strings.HasPrefix(id, "dlq:") {
			t.Errorf("the replay recipe sets no new %s: %q", jetstream.MsgIDHeader, args)
		}
		for _, h := range replayDropped {
			if _, ok := headers[h]; ok {
				t.Errorf("the replay recipe keeps %s, which the README says to drop: %q", h, args)
			}
		}
	}
	if pubs == 0 {
		t.Error("the replay recipe publishes nothing")
	}
}

// The pause recipe stops a stage: a marker request published while tts is paused gets no result
// until the resume recipe runs.
func testPauseResume(t *testing.T, r *recipeRig) {
	r.run(t, "pause", nil)
	if info := r.consumerInfo(t, streams.StreamTTS, streams.ConsumerTTS); !info.Paused {
		t.Fatalf("consumer %s > %s is not paused after the recipe", streams.StreamTTS, streams.ConsumerTTS)
	}
	const marker = "paused-marker"
	data, err := proto.Marshal(&jetflowv1.TtsRequest{RequestId: marker, Text: "wait for me"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.p.JS.Publish(r.p.Ctx, streams.SubjectTTSRequest, data); err != nil {
		t.Fatal(err)
	}
	results, err := r.p.JS.Stream(r.p.Ctx, streams.StreamResults)
	if err != nil {
		t.Fatal(err)
	}
	subject := streams.ResultSubject(streams.ResultKindTTS, marker)
	jstest.Consistently(t, 3*time.Second, 100*time.Millisecond, func() error {
		if _, err := results.GetLastMsgForSubject(r.p.Ctx, subject); !errors.Is(err, jetstream.ErrMsgNotFound) {
			return fmt.Errorf("a paused stage answered (%v)", err)
		}
		// The workers' pulls still wait, so the not-served alert stays quiet.
		if info := r.consumerInfo(t, streams.StreamTTS, streams.ConsumerTTS); info.NumPending != 1 || info.NumWaiting == 0 {
			return fmt.Errorf("paused consumer has %d pending (want the marker) and %d waiting pulls (want some)", info.NumPending, info.NumWaiting)
		}
		return nil
	})
	r.run(t, "resume", nil)
	r.result(t, subject)
	if info := r.consumerInfo(t, streams.StreamTTS, streams.ConsumerTTS); info.Paused {
		t.Error("consumer still paused after the resume recipe")
	}
}

// The move-back recipe on the limits stream AI_STT: the stt consumer, all of whose chunks were
// acked, delivers them again from the sequence given.
func testMoveBack(t *testing.T, r *recipeRig) {
	const session = "move-back"
	const rate = 16000
	var first uint64
	const chunks = 3
	for i := range chunks {
		data, err := proto.Marshal(&jetflowv1.SttAudioChunk{
			RequestId: "move-back", SessionId: session, Sequence: int64(i), SampleRate: rate,
			EndOfStream: i == chunks-1, Pcm: standin.EncodeSpeech("chunk "+strconv.Itoa(i), rate),
		})
		if err != nil {
			t.Fatal(err)
		}
		ack, err := r.p.JS.Publish(r.p.Ctx, streams.STTAudioSubject(session), data)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = ack.Sequence
		}
	}
	last := first + chunks - 1
	// settled: the consumer delivered up to the last chunk after since, and all of it is acked.
	settled := func(since time.Time) func() error {
		return func() error {
			info := r.consumerInfo(t, streams.StreamSTT, streams.ConsumerSTT)
			d := info.Delivered
			if d.Stream < last || d.Last == nil || !d.Last.After(since) || info.NumPending > 0 || info.NumAckPending > 0 {
				return fmt.Errorf("stt: delivered up to stream sequence %d at %v (want %d after %v), %d pending, %d ack pending",
					d.Stream, d.Last, last, since, info.NumPending, info.NumAckPending)
			}
			return nil
		}
	}
	jstest.Eventually(t, 30*time.Second, 50*time.Millisecond, settled(time.Time{}))

	reset := time.Now()
	out := r.run(t, "move-back", map[string]string{"SEQ": strconv.FormatUint(first, 10)})
	if want := "Information for Consumer " + streams.StreamSTT + " > " + streams.ConsumerSTT; !strings.Contains(out[1], want) {
		t.Errorf("nats consumer info lacks %q:\n%s", want, out[1])
	}
	// The reset starts the consumer's sequences again, so the proof of redelivery is a delivery
	// after the reset that reaches the last chunk, every chunk acked again.
	jstest.Eventually(t, 30*time.Second, 50*time.Millisecond, settled(reset))

	// A durable consumer's start cannot be edited, as the README says.
	cfg := r.consumerInfo(t, streams.StreamSTT, streams.ConsumerSTT).Config
	cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, first
	if _, err := r.p.JS.UpdateConsumer(r.p.Ctx, streams.StreamSTT, cfg); err == nil {
		t.Errorf("the server let the deliver policy of %s > %s be edited", streams.StreamSTT, streams.ConsumerSTT)
	}

	// On a work-queue stream there is nothing to move back to: a reset of the tts consumer, all
	// of whose requests are acked and so deleted, delivers nothing. And no second consumer may
	// read a stage's subject.
	tts := r.consumerInfo(t, streams.StreamTTS, streams.ConsumerTTS)
	r.cli.Run(r.p.Ctx, t, "consumer", "reset", streams.StreamTTS, streams.ConsumerTTS, "--sequence", "1", "-f")
	jstest.Consistently(t, time.Second, 100*time.Millisecond, func() error {
		info := r.consumerInfo(t, streams.StreamTTS, streams.ConsumerTTS)
		if info.NumPending != 0 || info.NumAckPending != 0 || info.Delivered.Stream > tts.Delivered.Stream {
			return fmt.Errorf("after a reset of a work-queue consumer: %d pending, %d ack pending, delivered up to %d (was %d)",
				info.NumPending, info.NumAckPending, info.Delivered.Stream, tts.Delivered.Stream)
		}
		return nil
	})
	if _, err := r.p.JS.CreateConsumer(r.p.Ctx, streams.StreamTTS, jetstream.ConsumerConfig{
		Durable: "second-reader", FilterSubject: streams.SubjectTTSRequest, AckPolicy: jetstream.AckExplicitPolicy,
	}); err == nil {
		t.Errorf("a second consumer of %s on the work-queue stream %s was created", streams.SubjectTTSRequest, streams.StreamTTS)
	}
}

// recipeTests names, for every recipe of the README, the test that runs it: a recipe added to
// the README without a test fails here, so none is printed untested.
var recipeTests = map[string]string{
	"apply-by-hand":      "streams.TestReadmeApplyByHandRecipe",
	"drive-by-hand":      "TestReadmeRecipes/replay-one",
	"consumer-state":     "TestReadmeRecipes/consumer-state",
	"dead-letter-sample": "TestDeadLetterShownByNatsStreamView",
	"dead-letters":       "TestDeadLetterShownByNatsStreamView",
	"replay-one":         "TestReadmeRecipes/replay-one",
	"reread-results":     "TestReadmeRecipes/reread-results",
	"pause":              "TestReadmeRecipes/pause-resume",
	"resume":             "TestReadmeRecipes/pause-resume",
	"move-back":          "TestReadmeRecipes/move-back",
}

func TestEveryReadmeRecipeHasATest(t *testing.T) {
	recipes := natscli.ReadmeRecipes(t)
	for name := range recipes {
		if _, ok := recipeTests[name]; !ok {
			t.Errorf("README recipe %q is run by no test: add it to a test and to recipeTests", name)
		}
	}
	for name, test := range recipeTests {
		if _, ok := recipes[name]; !ok {
			t.Errorf("%s runs recipe %q, which the README no longer has", test, name)
		}
	}
}
