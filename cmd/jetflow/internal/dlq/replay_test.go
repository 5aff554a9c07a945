package dlq

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"github.com/jetflow-dev/jetflow/internal/stage"
	jetflowv1 "github.com/jetflow-dev/jetflow/proto/jetflow/v1"
	"github.com/jetflow-dev/jetflow/streams"
)

// The copy a replay publishes keeps what says how to read the payload and drops what would
// make it start with spent attempts or another message's identity.
func TestReplayMessageHeaders(t *testing.T) {
	original := nats.Header{
		stage.HeaderContentType:  {"application/json"},
		stage.HeaderType:         {"jetflow.v1.ChatRequest"},
		stage.HeaderRequestID:    {"r-1"},
		"traceparent":            {"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
		"tracestate":             {"vendor=1"},
		"X-Tenant":               {"acme"},
		stage.HeaderAttempts:     {"4"},
		stage.HeaderRequeuedFrom: {"AI_CHAT:7"},
		HeaderReplayedFrom:       {"AI_DLQ:1"},
		"Nats-Expected-Stream":   {"AI_CHAT"},
	}
	d := stage.DeadLetter{Stage: streams.ConsumerChatRetrieve, Kind: stage.KindPermanent, Reason: "bad", OriginalSubject: streams.SubjectChatRequest,
		Stream: streams.StreamChat, Sequence: 9, Deliveries: 5, Header: original, Data: []byte(`{"request_id":"r-1"}`), FailedAt: time.Now()}
	m := d.Message(streams.DeadLetterSubject(d.Stage), 0)
	l := newLetter(42, m.Subject, time.Now(), m.Header, m.Data)

	got := replayMessage(l, 3)
	if got.Subject != streams.SubjectChatRequest || string(got.Data) != `{"request_id":"r-1"}` {
		t.Fatalf("copy to %s with %q", got.Subject, got.Data)
	}
	want := nats.Header{
		stage.HeaderContentType: {"application/json"},
		stage.HeaderType:        {"jetflow.v1.ChatRequest"},
		stage.HeaderRequestID:   {"r-1"},
		"traceparent":           {"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
		"tracestate":            {"vendor=1"},
		"X-Tenant":              {"acme"},
		HeaderReplayedFrom:      {"AI_DLQ:42"},
		jetstream.MsgIDHeader:   {"replay:AI_DLQ:42:3"},
	}
	if fmt.Sprint(got.Header) != fmt.Sprint(want) {
		t.Fatalf("headers\n%v\nwant\n%v", got.Header, want)
	}
}

// replayStages are three stages of different workers, each with a payload: protobuf for some
// letters, protojson for others.
var replayStages = []struct {
	stage, subject string
	msg            func(id string) proto.Message
}{
	{streams.ConsumerChatRetrieve, streams.SubjectChatRequest, func(id string) proto.Message {
		return &jetflowv1.ChatRequest{RequestId: id, Query: "What is JetStream?"}
	}},
	{streams.ConsumerTTS, streams.SubjectTTSRequest, func(id string) proto.Message { return &jetflowv1.TtsRequest{RequestId: id, Text: "hello"} }},
	{streams.ConsumerPipelineBridge, streams.SubjectPipelineTrigger, func(id string) proto.Message {
		return &jetflowv1.PipelineTrigger{RequestId: id, Pipeline: "nightly-eval"}
	}},
}

// letters stores n dead letters across replayStages and returns their sequences.
func (h *harness) letters(n int) []uint64 {
	h.t.Helper()
	var seqs []uint64
	for i := range n {
		rs := replayStages[i%len(replayStages)]
		id := fmt.Sprintf("req-%d", i)
		d := stage.DeadLetter{Stage: rs.stage, Kind: stage.KindExhausted, Reason: "giving up after 5 attempts: upstream 503",
			Deliveries: 5, Sequence: uint64(i + 1), Header: nats.Header{stage.HeaderType: {string(proto.MessageName(rs.msg(id)))}, stage.HeaderRequestID: {id}}}
		var err error
		if i%2 == 0 {
			d.Data, err = proto.Marshal(rs.msg(id))
		} else {
			d.Header.Set(stage.HeaderContentType, "application/json")
			d.Data, err = protojsonMarshal(rs.msg(id))
		}
		if err != nil {
			h.t.Fatal(err)
		}
		seqs = append(seqs, h.letter(d))
	}
	return seqs
}

// copies counts the replayed copies in the stage streams by the letter they came from.
func (h *harness) copies() map[string]int {
	h.t.Helper()
	got := map[string]int{}
	for _, rs := range replayStages {
		stream, _, _ := definitions().Consumer(rs.stage)
		for _, m := range h.stored(stream, rs.subject) {
			got[m.Header.Get(HeaderReplayedFrom)]++
		}
	}
	return got
}

func (h *harness) recordCount() int {
	h.t.Helper()
	recs, err := openRecords(h.p.Ctx, h.p.JS)
	if err != nil {
		h.t.Fatal(err)
	}
	all, err := recs.All(h.p.Ctx)
	if err != nil {
		h.t.Fatal(err)
	}
	return len(all)
}

func TestReplayOnceDryRunAgain(t *testing.T) {
	h := newHarness(t)
	seqs := h.letters(30)

	out := h.mustRun("replay", "--all", "--dry-run")
	if !strings.Contains(out, "would replay 30, skipped 0, failed 0") || strings.Count(out, "would replay ") != 31 {
		t.Fatalf("dry run printed:\n%s", out)
	}
	if got := h.copies(); len(got) != 0 || h.recordCount() != 0 {
		t.Fatalf("the dry run published %v and recorded %d", got, h.recordCount())
	}

	if out := h.mustRun("replay", "--all"); !strings.Contains(out, "replayed 30, skipped 0, failed 0") {
		t.Fatalf("replay printed:\n%s", out)
	}
	copies := h.copies()
	for _, seq := range seqs {
		if n := copies[fmt.Sprintf("AI_DLQ:%d", seq)]; n != 1 {
			t.Errorf("letter %d replayed %d times", seq, n)
		}
	}
	// The copies are decodable as their publisher sent them: Content-Type kept for JSON.
	chat := h.stored(streams.StreamChat, streams.SubjectChatRequest)
	if len(chat) != 10 {
		t.Fatalf("%d chat copies, want 10", len(chat))
	}
	for _, m := range chat {
		isJSON := len(m.Data) > 0 && m.Data[0] == '{'
		if got := m.Header.Get(stage.HeaderContentType) == "application/json"; got != isJSON {
			t.Errorf("a copy with payload %q has Content-Type %q", m.Data, m.Header.Get(stage.HeaderContentType))
		}
	}

	if out := h.mustRun("replay", "--all"); !strings.Contains(out, "replayed 0, skipped 30, failed 0") || !strings.Contains(out, "--again") {
		t.Fatalf("second replay printed:\n%s", out)
	}
	if got := h.copies(); len(got) != 30 || slices.Max(mapValues(got)) != 1 {
		t.Fatalf("after the second replay: %v", got)
	}

	if out := h.mustRun("replay", fmt.Sprint(seqs[0]), "--again"); !strings.Contains(out, "replayed 1, skipped 0, failed 0") {
		t.Fatalf("replay --again printed:\n%s", out)
	}
	if got := h.copies()[fmt.Sprintf("AI_DLQ:%d", seqs[0])]; got != 2 {
		t.Fatalf("after --again letter %d has %d copies, want 2", seqs[0], got)
	}
	h.mustRun("ls", fmt.Sprint(seqs[0]), "-o", "json")
	var rows []listed
	if err := json.Unmarshal(h.out.Bytes(), &rows); err != nil || len(rows) != 1 || rows[0].Replay == nil || rows[0].Replay.Generation != 2 ||
		rows[0].Replay.MsgID != fmt.Sprintf("replay:AI_DLQ:%d:2", seqs[0]) || rows[0].Size == 0 || rows[0].Type != "jetflow.v1.ChatRequest" {
		t.Fatalf("ls -o json after --again: %v\n%s", err, h.out.String())
	}
}

// A replay that stops between a publish ack and its record (a crash) and is run again
// publishes every letter exactly once: the unconfirmed one again under the same Nats-Msg-Id,
// which the server drops.
func TestReplayStoppedBetweenPublishAndRecordResumes(t *testing.T) {
	h := newHarness(t)
	seqs := h.letters(100)
	var mu sync.Mutex
	published, crashedOn := 0, uint64(0)
	h.env.afterPublish = func(l Letter) error {
		mu.Lock()
		defer mu.Unlock()
		if published++; published == 40 {
			crashedOn = l.Seq
		}
		if crashedOn != 0 {
			return errors.New("crash") // from here on nothing is recorded, as after a crash
		}
		return nil
	}
	if err := h.run("replay", "--all"); !errors.Is(err, errStopped) {
		t.Fatalf("stopped run: %v", err)
	}
	if got := len(h.copies()); got < 40 || got == 100 {
		t.Fatalf("%d letters published before the stop, want 40 and some in flight", got)
	}
	recorded := 0
	recs, _ := openRecords(h.p.Ctx, h.p.JS)
	all, _ := recs.All(h.p.Ctx)
	for _, e := range all {
		if e.State == stateReplayed {
			recorded++
		}
	}
	h.env.afterPublish = nil
	out := h.mustRun("replay", "--all")
	if want := fmt.Sprintf("replayed %d, skipped %d, failed 0", 100-recorded, recorded); !strings.Contains(out, want) {
		t.Fatalf("the rerun printed:\n%s\nwant %s", out, want)
	}
	copies := h.copies()
	for _, seq := range seqs {
		if n := copies[fmt.Sprintf("AI_DLQ:%d", seq)]; n != 1 {
			t.Errorf("letter %d has %d copies", seq, n)
		}
	}
	all, _ = recs.All(h.p.Ctx)
	if r := all[crashedOn]; r.State != stateReplayed || !r.Duplicate {
		t.Fatalf("the letter stopped on is recorded %+v, want replayed as a duplicate", r.Record)
	}
}

// A replay left unconfirmed for longer than the duplicate window is not published again
// without --again: it may have run.
func TestReplayUnconfirmedBeyondTheDuplicateWindowNeedsAgain(t *testing.T) {
	h := newHarness(t)
	seqs := h.letters(2)
	start := time.Now()
	crash := func(at time.Duration) {
		t.Helper()
		h.env.Now = func() time.Time { return start.Add(at) }
		h.env.afterPublish = func(Letter) error { return errors.New("crash") }
		if err := h.run("replay", fmt.Sprint(seqs[0])); !errors.Is(err, errStopped) {
			t.Fatalf("stopped run at +%v: %v", at, err)
		}
		h.env.afterPublish = nil
	}
	// The window the replay counts on is the target stream's own (AI_CHAT's, for the first
	// letter), whatever streams/ sets it to.
	target, err := h.p.JS.StreamNameBySubject(h.p.Ctx, replayStages[0].subject)
	if err != nil {
		t.Fatal(err)
	}
	info, err := h.p.JS.Stream(h.p.Ctx, target)
	if err != nil {
		t.Fatal(err)
	}
	window := info.CachedInfo().Config.Duplicates
	crash(0)
	// Resumed within the window (less a quarter for clock skew) and stopped again: the record
	// keeps the first publish's time, which the server's window runs from.
	crash(window / 2)
	h.env.Now = func() time.Time { return start.Add(window * 5 / 6) }
	err = h.run("replay", "--all")
	if !errors.Is(err, ErrIncomplete) || !strings.Contains(h.err.String(), "was not confirmed") || !strings.Contains(h.err.String(), "--again") {
		t.Fatalf("rerun %v after the first publish (window %v): %v\n%s", window*5/6, window, err, h.err.String())
	}
	if got := h.copies(); got[fmt.Sprintf("AI_DLQ:%d", seqs[0])] != 1 || got[fmt.Sprintf("AI_DLQ:%d", seqs[1])] != 1 {
		t.Fatalf("copies %v", got)
	}
	if out := h.mustRun("replay", fmt.Sprint(seqs[0]), "--again"); !strings.Contains(out, "replayed 1,") {
		t.Fatalf("--again printed %s", out)
	}
}

func TestReplayRate(t *testing.T) {
	h := newHarness(t)
	h.letters(6)
	start := time.Now()
	h.mustRun("replay", "--all", "--rate", "20")
	if took := time.Since(start); took < 250*time.Millisecond {
		t.Fatalf("6 letters at 20/s took %v, want at least 250ms", took)
	}
}

func TestReplayNeedsASelection(t *testing.T) {
	h := newHarness(t)
	for _, args := range [][]string{{"replay"}, {"purge", "--yes"}, {"replay", "--all", "3"}, {"replay", "x-"}, {"replay", "--kind", "odd", "1"}} {
		if err := h.run(args...); !errors.Is(err, ErrUsage) {
			t.Errorf("%q: %v, want a usage error", args, err)
		}
	}
}

func mapValues(m map[string]int) []int {
	var out []int
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

// Ctrl-C stops handing out letters, lets the ones being published finish and record, and says
// how to resume; the rerun does the rest.
func TestReplayInterruptedResumes(t *testing.T) {
	h := newHarness(t)
	seqs := h.letters(100)
	ctx, interrupt := context.WithCancel(h.p.Ctx)
	defer interrupt()
	var published atomic.Int32
	h.env.afterPublish = func(Letter) error {
		if published.Add(1) == 30 {
			interrupt()
		}
		return nil
	}
	err := Run(ctx, []string{"replay", "--all"}, h.env)
	if !errors.Is(err, ErrIncomplete) || !strings.Contains(err.Error(), "run the same command again") {
		t.Fatalf("interrupted replay: %v", err)
	}
	if got := h.recordCount(); got != int(published.Load()) || got == 100 {
		t.Fatalf("%d records for %d publishes", got, published.Load())
	}
	h.env.afterPublish = nil
	out := h.mustRun("replay", "--all")
	if want := fmt.Sprintf("replayed %d, skipped %d, failed 0", 100-int(published.Load()), published.Load()); !strings.Contains(out, want) {
		t.Fatalf("the rerun printed:\n%s\nwant %s", out, want)
	}
	copies := h.copies()
	for _, seq := range seqs {
		if n := copies[fmt.Sprintf("AI_DLQ:%d", seq)]; n != 1 {
			t.Errorf("letter %d has %d copies", seq, n)
		}
	}
}
