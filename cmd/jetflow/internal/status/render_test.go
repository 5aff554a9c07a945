package status

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/internal/worker"
)

func sampleReport() *Report {
	r := &Report{
		Time: reportTime,
		Stages: []StageReport{
			{Stage: "chat-generate", Stream: "AI_CHAT", Consumer: "chat-generate", Pending: 12, AckPending: 3, Redelivered: 1, Waiting: 2},
			{Stage: "stt", Stream: "AI_STT", Consumer: "stt", Missing: true},
			{Stage: "tts", Stream: "AI_TTS", Consumer: "tts", Pending: 40,
				DeadLetters: DeadLetters{Subject: "ai.dlq.tts", Total: 7, LastHour: 5, Newest: newestAt(30 * time.Second)}},
		},
	}
	gen := worker.StageStatus{Stage: "chat-generate", Breakers: []worker.BreakerStatus{}}
	r.Replicas = []worker.Status{
		replica("a", ttsStage(stateOpen, 25_000), gen),
		replica("b", ttsStage(stateClosed, 0), gen),
	}
	addReplicas(r.Stages, r.Replicas)
	r.Problems = r.ProblemsFor(DefaultDLQWindow, false)
	r.Healthy = len(r.Problems) == 0
	return r
}

func TestRenderTable(t *testing.T) {
	var b strings.Builder
	if err := renderTable(&b, sampleReport(), DefaultDLQWindow); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(b.String(), "\n")
	if lines[0] != "jetflow status at 2026-12-03 10:00:00 UTC" {
		t.Errorf("title %q", lines[0])
	}
	wantRows := [][]string{
		{"STREAM", "CONSUMER", "PENDING", "ACK", "PENDING", "REDELIVERED", "WAITING", "DLQ", "1H", "DLQ", "TOTAL", "REPLICAS", "BREAKERS"},
		{"AI_CHAT", "chat-generate", "12", "3", "1", "2", "0", "0", "2", "none"},
		{"AI_STT", "stt", "missing", "-", "-", "-", "0", "0", "0", "-"},
		{"AI_TTS", "tts", "40", "0", "0", "0", "5", "7", "2", "tts", "open", "1/2", "25s"},
	}
	for i, want := range wantRows {
		if got := strings.Fields(lines[2+i]); strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("row %d = %q, want %q", i, got, want)
		}
	}
	// The columns line up: every row's BREAKERS starts where the header's does.
	col := strings.Index(lines[2], "BREAKERS")
	for _, l := range lines[3:6] {
		if len(l) <= col || l[col-1] != ' ' || l[col] == ' ' {
			t.Errorf("row %q does not start its last column at %d", l, col)
		}
	}
	rest := strings.Join(lines[6:], "\n")
	for _, want := range []string{"problems:", "stt: consumer stt not found", "tts: breaker tts open on 1 of 2 replicas", "tts: dead letters growing: the newest is 30s old, 5 in the last hour"} {
		if !strings.Contains(rest, want) {
			t.Errorf("no %q under the table:\n%s", want, rest)
		}
	}
}

func TestRenderTableHealthy(t *testing.T) {
	r := &Report{Time: reportTime, Healthy: true, Stages: []StageReport{{Stage: "tts", Stream: "AI_TTS", Consumer: "tts"}}, Warnings: []string{"status entry x does not decode"}}
	var b strings.Builder
	if err := renderTable(&b, r, DefaultDLQWindow); err != nil {
		t.Fatal(err)
	}
	if out := b.String(); !strings.Contains(out, "healthy: no breaker open, no dead letter in the last 5m0s") || !strings.Contains(out, "warning: status entry x") || strings.Contains(out, "problems") {
		t.Errorf("healthy table:\n%s", out)
	}
}

func TestBreakersCell(t *testing.T) {
	closed := worker.StageStatus{Stage: "s", Breakers: []worker.BreakerStatus{{Upstream: "llm", State: stateClosed}, {Upstream: "embeddings", State: stateClosed}}}
	tests := []struct {
		name     string
		replicas []worker.Status
		want     string
	}{
		{name: "no replica", want: "-"},
		{name: "no breaker called yet", replicas: []worker.Status{replica("a", worker.StageStatus{Stage: "s"})}, want: "none"},
		{name: "all agree", replicas: []worker.Status{replica("a", closed), replica("b", closed)}, want: "embeddings closed, llm closed"},
		{name: "one open", replicas: []worker.Status{replica("a", closed), replica("b", worker.StageStatus{Stage: "s",
			Breakers: []worker.BreakerStatus{{Upstream: "llm", State: stateOpen, OpenForMS: 61_000}}})}, want: "embeddings closed, llm open 1/2 1m1s"},
		{name: "half-open everywhere", replicas: []worker.Status{replica("a", worker.StageStatus{Stage: "s",
			Breakers: []worker.BreakerStatus{{Upstream: "llm", State: stateHalfOpen}}})}, want: "llm half-open"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stages := []StageReport{{Stage: "s"}}
			addReplicas(stages, tt.replicas)
			if got := breakersCell(stages[0]); got != tt.want {
				t.Errorf("cell %q, want %q", got, tt.want)
			}
		})
	}
}

func TestRenderJSONIsOneLineThatDecodes(t *testing.T) {
	var b strings.Builder
	if err := renderJSON(&b, sampleReport()); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if strings.Count(out, "\n") != 1 || !strings.HasSuffix(out, "\n") {
		t.Fatalf("not one line: %q", out)
	}
	var back Report
	if err := json.Unmarshal([]byte(out), &back); err != nil {
		t.Fatal(err)
	}
	tts := back.Stages[2]
	if back.Healthy || len(back.Problems) != 3 || len(back.Replicas) != 2 || tts.DeadLetters.LastHour != 5 ||
		tts.Breakers[0].State != stateOpen || tts.Breakers[0].Replicas[stateOpen] != 1 || !back.Stages[1].Missing {
		t.Errorf("decoded %+v", back)
	}
}

func TestInPlaceRewritesEveryLine(t *testing.T) {
	got := inPlace("a\nbb\n")
	if want := ansiHome + "a" + ansiClearLineRest + "\n" + "bb" + ansiClearLineRest + "\n" + ansiClearBelow; got != want {
		t.Errorf("inPlace = %q, want %q", got, want)
	}
}
