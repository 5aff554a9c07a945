package dlq

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"

	"github.com/jetflow-dev/jetflow/internal/operator/deadletters"
	"github.com/jetflow-dev/jetflow/internal/stage"
	jetflowv1 "github.com/jetflow-dev/jetflow/proto/jetflow/v1"
	"github.com/jetflow-dev/jetflow/streams"
)

// lsSeqs runs ls with args and -o json and returns the sequences it listed.
func (h *harness) lsSeqs(args ...string) []uint64 {
	h.t.Helper()
	h.mustRun(append([]string{"ls", "-o", "json"}, args...)...)
	var rows []listed
	if err := json.Unmarshal(h.out.Bytes(), &rows); err != nil {
		h.t.Fatalf("ls -o json %q does not parse: %v\n%s", args, err, h.out.String())
	}
	seqs := []uint64{}
	for _, r := range rows {
		seqs = append(seqs, r.Seq)
	}
	return seqs
}

func TestLsFilters(t *testing.T) {
	h := newHarness(t)
	now := time.Now()
	chatOld := h.letter(stage.DeadLetter{Stage: streams.ConsumerChatRetrieve, Kind: stage.KindPermanent, Reason: "decoding protobuf: unexpected EOF", FailedAt: now.Add(-3 * time.Hour)})
	tts := h.letter(stage.DeadLetter{Stage: streams.ConsumerTTS, Kind: stage.KindExhausted, Reason: "giving up after 5 attempts: speech: HTTP 503", FailedAt: now.Add(-30 * time.Minute)})
	chatNew := h.letter(stage.DeadLetter{Stage: streams.ConsumerChatRetrieve, Kind: stage.KindMaxDeliveries, Reason: "worker crashed", FailedAt: now.Add(-time.Minute)})
	voice := h.letter(stage.DeadLetter{Stage: streams.ConsumerVoiceTranscribe, Kind: stage.KindPermanent, Reason: "transcribe: HTTP 400", FailedAt: now})

	for _, tt := range []struct {
		name string
		args []string
		want []uint64
	}{
		{"everything", nil, []uint64{chatOld, tts, chatNew, voice}},
		{"stage", []string{"--stage", "chat-retrieve"}, []uint64{chatOld, chatNew}},
		{"stages comma-separated", []string{"--stage", "tts,voice-transcribe"}, []uint64{tts, voice}},
		{"kind", []string{"--kind", "permanent"}, []uint64{chatOld, voice}},
		{"reason substring", []string{"--reason", "HTTP 503"}, []uint64{tts}},
		{"reason regexp", []string{"--reason", "/HTTP [45]0[03]$/"}, []uint64{tts, voice}},
		{"since a duration", []string{"--since", "1h"}, []uint64{tts, chatNew, voice}},
		{"until a duration", []string{"--until", "10m"}, []uint64{chatOld, tts}},
		{"since an RFC 3339 time", []string{"--since", now.Add(-2 * time.Minute).UTC().Format(time.RFC3339)}, []uint64{chatNew, voice}},
		{"one sequence", []string{fmt.Sprint(tts)}, []uint64{tts}},
		{"a range", []string{fmt.Sprintf("%d-%d", tts, chatNew)}, []uint64{tts, chatNew}},
		{"an open range", []string{fmt.Sprintf("%d-", chatNew)}, []uint64{chatNew, voice}},
		{"range and stage", []string{fmt.Sprintf("%d-", tts), "--stage", "chat-retrieve"}, []uint64{chatNew}},
		{"nothing matches", []string{"--stage", "stt"}, []uint64{}},
		{"a range past the stage's letters", []string{fmt.Sprintf("%d-", voice), "--stage", "tts"}, []uint64{}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			if got := h.lsSeqs(tt.args...); fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Fatalf("ls %q = %v, want %v", tt.args, got, tt.want)
			}
			if took := time.Since(start); took > deadletters.FetchWait/2 {
				t.Errorf("ls %q took %v: it waited for letters that are not there", tt.args, took)
			}
		})
	}

	table := h.mustRun("ls", "--stage", "tts")
	for _, want := range []string{"SEQ", "STAGE", "KIND", "AGE", "REPLAYED", "SUBJECT", "REASON", fmt.Sprint(tts), "tts", "exhausted", "30m", "no", streams.SubjectTTSRequest, "HTTP 503", "1 dead letters"} {
		if !strings.Contains(table, want) {
			t.Errorf("the table lacks %q:\n%s", want, table)
		}
	}
	for _, bad := range [][]string{{"ls", "--since", "yesterday"}, {"ls", "--reason", "/(/"}, {"ls", "-o", "yaml"}, {"ls", "0"}, {"ls", "5-2"}} {
		if err := h.run(bad...); !errors.Is(err, ErrUsage) {
			t.Errorf("%q: %v, want a usage error", bad, err)
		}
	}
}

func TestShowDecodesThePayload(t *testing.T) {
	h := newHarness(t)
	chat := &jetflowv1.ChatRequest{RequestId: "r-proto", Query: "What is JetStream?"}
	b, err := proto.Marshal(chat)
	if err != nil {
		t.Fatal(err)
	}
	const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	protoSeq := h.letter(stage.DeadLetter{Stage: streams.ConsumerChatRetrieve, Kind: stage.KindPermanent, Reason: "embed: HTTP 400",
		Header: nats.Header{stage.HeaderType: {"jetflow.v1.ChatRequest"}, "traceparent": {traceparent}}, Data: b})
	jsonSeq := h.letter(stage.DeadLetter{Stage: streams.ConsumerTTS, Kind: stage.KindPermanent, Reason: "speech: HTTP 400",
		Header: nats.Header{stage.HeaderType: {"jetflow.v1.TtsRequest"}, stage.HeaderContentType: {"application/json"}},
		Data:   []byte(`{"request_id":"r-json","text":"hello"}`)})
	garbageSeq := h.letter(stage.DeadLetter{Stage: streams.ConsumerChatRetrieve, Kind: stage.KindPermanent, Reason: "decoding protobuf",
		Header: nats.Header{stage.HeaderType: {"jetflow.v1.ChatRequest"}}, Data: []byte{0xff, 0xfe, 0xfd, 0x00, 0x01}})
	textSeq := h.letter(stage.DeadLetter{Stage: streams.ConsumerChatRetrieve, Kind: stage.KindPermanent, Reason: "not json",
		Header: nats.Header{stage.HeaderContentType: {"application/json"}}, Data: []byte(`{"request_id":"demo-bad",`)})

	for _, tt := range []struct {
		name string
		seq  uint64
		want []string
	}{
		{"protobuf", protoSeq, []string{"Trace id: 4bf92f3577b34da6a3ce929d0e0e4736", "Payload (jetflow.v1.ChatRequest, binary protobuf,",
			`"request_id": "r-proto"`, `"query": "What is JetStream?"`, "Jetflow-Error: embed: HTTP 400", "Replayed: no",
			"Original: " + streams.SubjectChatRequest}},
		{"protojson", jsonSeq, []string{"Payload (jetflow.v1.TtsRequest, protojson,", `"request_id": "r-json"`, `"text": "hello"`, "Content-Type: application/json"}},
		{"undecodable bytes as hex", garbageSeq, []string{"raw: not a valid jetflow.v1.ChatRequest", "ff fe fd 00 01"}},
		{"text without a type, quoted", textSeq, []string{"raw: no Jetflow-Type header", `"{\"request_id\":\"demo-bad\","`}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out := h.mustRun("show", fmt.Sprint(tt.seq))
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("show lacks %q:\n%s", w, out)
				}
			}
		})
	}
	err = h.run("show", "999")
	if err == nil || !strings.Contains(err.Error(), "no dead letter 999 in AI_DLQ: list them with jetflow dlq ls") {
		t.Fatalf("show of a missing letter: %v", err)
	}
	if err := h.run("show"); !errors.Is(err, ErrUsage) {
		t.Fatalf("show without a sequence: %v", err)
	}
}

func TestPurge(t *testing.T) {
	h := newHarness(t)
	a := h.letter(stage.DeadLetter{Stage: streams.ConsumerTTS, Kind: stage.KindPermanent, Reason: "never again"})
	b := h.letter(stage.DeadLetter{Stage: streams.ConsumerTTS, Kind: stage.KindPermanent, Reason: "keep me"})
	h.mustRun("replay", fmt.Sprint(a))
	if h.recordCount() != 1 {
		t.Fatal("no replay record")
	}

	// No terminal, no --yes: refused, nothing deleted.
	err := h.run("purge", fmt.Sprint(a))
	if !errors.Is(err, ErrUsage) || !strings.Contains(err.Error(), "pass --yes") {
		t.Fatalf("purge without --yes nor a terminal: %v", err)
	}
	// A terminal that answers no.
	h.env.StdinTerminal, h.env.Stdin = true, strings.NewReader("n\n")
	if out := h.mustRun("purge", fmt.Sprint(a)); !strings.Contains(out, "nothing purged") || !strings.Contains(h.err.String(), "Delete 1 dead letters") {
		t.Fatalf("purge answered no: %s / %s", out, h.err.String())
	}
	if got := h.lsSeqs(); len(got) != 2 {
		t.Fatalf("after refusals: %v", got)
	}
	out := h.mustRun("purge", "--dry-run", "--reason", "never")
	if !strings.Contains(out, fmt.Sprintf("would purge %d", a)) || len(h.lsSeqs()) != 2 {
		t.Fatalf("dry run: %s", out)
	}
	// A terminal that answers yes.
	h.env.Stdin = strings.NewReader("y\n")
	if out := h.mustRun("purge", "--reason", "never"); !strings.Contains(out, "purged 1, failed 0") {
		t.Fatalf("purge answered yes: %s", out)
	}
	if got := h.lsSeqs(); fmt.Sprint(got) != fmt.Sprint([]uint64{b}) || h.recordCount() != 0 {
		t.Fatalf("after purge: letters %v, %d records", got, h.recordCount())
	}
	// --yes without a terminal.
	h.env.StdinTerminal = false
	if out := h.mustRun("purge", "--yes", "--all"); !strings.Contains(out, "purged 1, failed 0") || len(h.lsSeqs()) != 0 {
		t.Fatalf("purge --yes: %s", out)
	}
}

func TestHelpOfEveryCommand(t *testing.T) {
	h := newHarness(t)
	for _, args := range [][]string{{"--help"}, {"help"}, {"ls", "--help"}, {"show", "-h"}, {"replay", "--help"}, {"purge", "--help"}} {
		err := h.run(args...)
		if !errors.Is(err, flag.ErrHelp) {
			t.Errorf("%q: %v, want help", args, err)
		}
		want := "jetflow dlq"
		if len(args) > 1 {
			want += " " + args[0]
		}
		if out := h.out.String(); !strings.HasPrefix(out, want) {
			t.Errorf("%q printed:\n%s", args, out)
		}
	}
	if err := h.run("frobnicate"); !errors.Is(err, ErrUsage) || !strings.Contains(err.Error(), "ls, show, replay and purge") {
		t.Errorf("unknown command: %v", err)
	}
}

func TestParseTimeAndRange(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"90m": now.Add(-90 * time.Minute), "3d": now.Add(-72 * time.Hour), "0.5d": now.Add(-12 * time.Hour),
		"2026-12-01T00:00:00Z": time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC),
	} {
		if got, err := parseTime(in, now); err != nil || !got.Equal(want) {
			t.Errorf("parseTime(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"-1h", "soon", "3x"} {
		if _, err := parseTime(bad, now); err == nil {
			t.Errorf("parseTime(%q) accepted", bad)
		}
	}
	if r, err := parseRange("7-"); err != nil || r.From != 7 || r.To != ^uint64(0) {
		t.Errorf("parseRange(7-) = %v, %v", r, err)
	}
	if _, ok := traceID("00-00000000000000000000000000000000-00f067aa0ba902b7-01"); ok {
		t.Error("an all-zero trace id is invalid")
	}
}

func TestProgressBarOnATerminal(t *testing.T) {
	var out strings.Builder
	bar := newProgress(&out, true, "replay", 4)
	bar.update(1, "replayed 1")
	bar.update(4, "replayed 4")
	bar.finish()
	if got := out.String(); !strings.Contains(got, "replay [=======") || !strings.Contains(got, "4/4  replayed 4") || !strings.HasSuffix(got, "\n") {
		t.Fatalf("progress drawn as %q", got)
	}
	var none strings.Builder
	off := newProgress(&none, false, "replay", 4)
	off.update(4, "x")
	off.finish()
	if none.Len() != 0 {
		t.Fatalf("a progress bar without a terminal drew %q", none.String())
	}
}

// A replay record is written after its letter, so with a ttl at least AI_DLQ's max_age it
// outlives the letter, and the letter is never replayed twice by a record that expired first.
func TestRecordsOutliveTheirLetters(t *testing.T) {
	set := definitions()
	bucket, ok := set.Bucket(streams.BucketDLQReplays)
	if !ok {
		t.Fatalf("streams/ defines no bucket %s", streams.BucketDLQReplays)
	}
	dlq, _ := set.Stream(streams.StreamDeadLetter)
	// A ttl of 0 keeps records for ever; a max_age of 0 keeps letters for ever.
	if outlives := bucket.TTL == 0 || dlq.MaxAge != 0 && bucket.TTL >= dlq.MaxAge; !outlives {
		t.Fatalf("%s ttl %v is shorter than %s max_age %v", streams.BucketDLQReplays, bucket.TTL, streams.StreamDeadLetter, dlq.MaxAge)
	}
}
