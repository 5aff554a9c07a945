package stagestatus

import (
	"strings"
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/internal/worker"
)

var reportTime = time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)

func replica(name string, stages ...worker.StageStatus) worker.Status {
	return worker.Status{Worker: "tts-module", Replica: name, Stages: stages, IntervalMS: 5000, UpdatedAt: reportTime}
}

func ttsStage(state string, openForMS int64) worker.StageStatus {
	gate := map[string]string{StateClosed: worker.GatePulling, StateHalfOpen: worker.GateProbing, StateOpen: worker.GatePaused}[state]
	return worker.StageStatus{Stage: "tts", Stream: "AI_TTS", Consumer: "tts", Gate: gate,
		Breakers: []worker.BreakerStatus{{Upstream: "tts", State: state, OpenForMS: openForMS}}}
}

func newestAt(ago time.Duration) *time.Time {
	t := reportTime.Add(-ago)
	return &t
}

// The exit-code rule: which states of a stage make the platform unhealthy, and which do not.
func TestProblemsRule(t *testing.T) {
	tests := []struct {
		name          string
		replicas      []worker.Status
		deadLetters   DeadLetters
		missing       bool
		bucketMissing bool
		want          []string // one substring per expected problem; none means healthy
	}{
		{name: "healthy", replicas: []worker.Status{replica("a", ttsStage(StateClosed, 0))}},
		{name: "no replica at all is not a problem by itself"},
		{name: "open on one replica of two", replicas: []worker.Status{replica("a", ttsStage(StateClosed, 0)), replica("b", ttsStage(StateOpen, 20_000))},
			want: []string{"tts: breaker tts open on 1 of 2 replicas"}},
		{name: "half-open is probing, not a problem", replicas: []worker.Status{replica("a", ttsStage(StateHalfOpen, 0))}},
		{name: "a dead letter inside the window", deadLetters: DeadLetters{Total: 3, LastHour: 2, Newest: newestAt(time.Minute)},
			want: []string{"tts: dead letters growing: the newest is 1m0s old, 2 in the last hour"}},
		{name: "old dead letters only", deadLetters: DeadLetters{Total: 40, LastHour: 1, Newest: newestAt(10 * time.Minute)}},
		{name: "dead letter just at the window's edge", deadLetters: DeadLetters{Total: 1, LastHour: 1, Newest: newestAt(5 * time.Minute)}},
		{name: "missing consumer", missing: true, want: []string{"tts: consumer tts not found on stream AI_TTS"}},
		{name: "missing bucket", bucketMissing: true, want: []string{"no status bucket"}},
		{name: "open and growing", replicas: []worker.Status{replica("a", ttsStage(StateOpen, 1000))},
			deadLetters: DeadLetters{Total: 1, LastHour: 1, Newest: newestAt(time.Second)},
			want:        []string{"breaker tts open on 1 of 1", "dead letters growing"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &Report{Time: reportTime, Stages: []StageReport{{Stage: "tts", Stream: "AI_TTS", Consumer: "tts", Missing: tt.missing, DeadLetters: tt.deadLetters}}}
			AddReplicas(r.Stages, tt.replicas)
			got := r.ProblemsFor(DefaultWindow, tt.bucketMissing)
			if len(got) != len(tt.want) {
				t.Fatalf("problems %q, want %d matching %q", got, len(tt.want), tt.want)
			}
			for i, want := range tt.want {
				if !strings.Contains(got[i], want) {
					t.Errorf("problem %q, want it to contain %q", got[i], want)
				}
			}
		})
	}
}

// Breakers of one stage add up across replicas: the worst state wins, each state is counted,
// the longest time left open is kept, and a stage the CLI does not know is skipped.
func TestAddReplicasAggregatesBreakers(t *testing.T) {
	stages := []StageReport{{Stage: "tts"}, {Stage: "stt"}}
	llm := func(state string, ms int64) worker.StageStatus {
		s := ttsStage(state, ms)
		s.Breakers = append(s.Breakers, worker.BreakerStatus{Upstream: "aaa", State: StateClosed})
		return s
	}
	AddReplicas(stages, []worker.Status{
		replica("a", llm(StateClosed, 0)),
		replica("b", llm(StateOpen, 3000)),
		replica("c", llm(StateOpen, 9000), worker.StageStatus{Stage: "from-the-future"}),
		replica("d", llm(StateHalfOpen, 0)),
	})
	tts := stages[0]
	if tts.Replicas != 4 || stages[1].Replicas != 0 {
		t.Fatalf("replicas tts %d stt %d, want 4 and 0", tts.Replicas, stages[1].Replicas)
	}
	if len(tts.Breakers) != 2 || tts.Breakers[0].Upstream != "aaa" {
		t.Fatalf("breakers %+v, want aaa then tts", tts.Breakers)
	}
	b := tts.Breakers[1]
	if b.State != StateOpen || b.OpenForMS != 9000 || b.Replicas[StateOpen] != 2 || b.Replicas[StateClosed] != 1 || b.Replicas[StateHalfOpen] != 1 {
		t.Errorf("tts breaker %+v, want open 2, closed 1, half-open 1, open for 9s", b)
	}
}

func TestAge(t *testing.T) {
	for d, want := range map[time.Duration]string{
		-time.Second:                    "0s",
		1400 * time.Millisecond:         "1s",
		3*time.Minute + 10*time.Second:  "3m10s",
		2*time.Hour + 5*time.Minute + 7: "2h5m",
	} {
		if got := Age(d); got != want {
			t.Errorf("Age(%v) = %q, want %q", d, got, want)
		}
	}
}
