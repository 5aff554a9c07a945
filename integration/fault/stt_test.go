package fault

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/internal/devkit/jstest"
	"github.com/jetflow-dev/jetflow/internal/devkit/standin"
	jetflowv1 "github.com/jetflow-dev/jetflow/proto/jetflow/v1"
	"github.com/jetflow-dev/jetflow/streams"
)

var sttSentences = []string{
	"the quick brown fox jumps",
	"over the lazy sleeping dog",
	"streams keep every chunk",
	"replicas race on one key",
	"compare and swap decides",
	"silence closes a segment",
}

// 7. STT disorder: sessions whose chunks arrive shuffled, 10% of them twice, while both
// stt-module replicas are killed with kill -9 and restarted mid-stream. Every transcript comes
// out complete, in order, once.
func TestSTTShuffledDuplicatedChunksSurviveReplicaCrashes(t *testing.T) {
	sttDisorder(t, "7 STT disorder", 0, 0)
}

// 7b. The same with each session's chunks shuffled over the whole run and the consumer's
// max_ack_pending below the number of chunks waiting at once. Chunks that waited for a missing
// one used to hold an ack-pending slot for their whole gap timeout, which stalled the stage
// with the missing chunks behind the stall, and published audio timed out as GAP.
func TestSTTWideDisorderDoesNotStallTheStage(t *testing.T) {
	sttDisorder(t, "7b STT wide disorder", Scale(6*time.Second, 20*time.Second), 32)
}

// sttDisorder runs scenario 7: each session's chunks are shuffled within window (0: 3 s) and
// the consumer allows maxAckPending unacknowledged chunks (0: as streams/ defines it).
func sttDisorder(t *testing.T, scenario string, window time.Duration, maxAckPending int) {
	ctx := Suite(t, 4*time.Minute)
	var (
		sessions  = Scale(6, 20)
		sentences = Scale(2, 4)
		spread    = Scale(6*time.Second, 20*time.Second) // how long publishing takes
	)
	// Each session is a live stream: its chunks, shuffled, are published within window, and the
	// sessions start one after the other over spread, so that the kills land mid-stream.
	if window == 0 {
		window = 3 * time.Second
	}
	// Longer than a session's window plus a crash's redelivery (the ack wait) and the queue
	// ahead of a chunk, so that no chunk is reported missing: a gap here would be a lost chunk.
	gapTimeout := Scale(15*time.Second, 30*time.Second)
	const sttAckWait = 3 * time.Second
	edits := ackWait(sttAckWait, streams.StreamSTT, streams.ConsumerSTT)
	if maxAckPending > 0 {
		for name, edit := range edits {
			edits[name] = func(def map[string]any) {
				edit(def)
				def["max_ack_pending"] = maxAckPending
			}
		}
	}
	r := newRig(t, ctx, standin.Config{}, edits)
	env := append([]string{
		"STT_GAP_TIMEOUT=" + gapTimeout.String(),
		// A replica killed while it held a session's outbox: another takes it over soon.
		"STT_PUBLISH_LEASE=2s",
		"STT_SWEEP_INTERVAL=250ms",
		"STT_RETRY_BACKOFF=100ms,300ms,1s",
	}, sttVADEnv...)
	replicas := []*Worker{r.startWorker("stt-module", env...), r.startWorker("stt-module", env...)}

	seed := uint64(time.Now().UnixNano())
	t.Logf("shuffle seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 7))
	said := map[string][]string{}
	type scheduled struct {
		at    time.Duration
		chunk *jetflowv1.SttAudioChunk
	}
	var plan []scheduled
	chunks, dups := 0, 0
	for i := range sessions {
		id := "stt-" + strconv.Itoa(i)
		// Each session says its own sentences, so a chunk that strayed into another would show.
		for j := range sentences {
			said[id] = append(said[id], sttSentences[(i+j)%len(sttSentences)])
		}
		cs := sttSession(id, said[id], sttRate)
		chunks += len(cs)
		rng.Shuffle(len(cs), func(a, b int) { cs[a], cs[b] = cs[b], cs[a] })
		for range len(cs) / 10 {
			cs = slices.Insert(cs, rng.IntN(len(cs)+1), cs[rng.IntN(len(cs))])
			dups++
		}
		begin := time.Duration(i) * max(0, spread-window) / time.Duration(max(1, sessions-1))
		for j, c := range cs {
			plan = append(plan, scheduled{at: begin + time.Duration(j)*window/time.Duration(len(cs)), chunk: c})
		}
	}
	slices.SortStableFunc(plan, func(a, b scheduled) int { return int(a.at - b.at) })
	order := make([]*jetflowv1.SttAudioChunk, len(plan))
	for i, p := range plan {
		order[i] = p.chunk
	}

	// Publish over spread; kill one replica a third of the way, the other two thirds of the
	// way, each restarted at once.
	tick := time.NewTicker(spread / time.Duration(len(order)))
	defer tick.Stop()
	start := time.Now()
	var lastRestart time.Time
	for i, c := range order {
		<-tick.C
		for k, w := range replicas {
			if i != (k+1)*len(order)/3 {
				continue
			}
			w.Kill()
			w.Restart()
			lastRestart = time.Now()
		}
		r.publish(protoMsg(t, streams.STTAudioSubject(c.GetSessionId()), c, nil))
	}
	published := time.Since(start)

	var lastTranscript time.Time
	jstest.Eventually(t, 2*time.Minute, 200*time.Millisecond, func() error {
		for id, want := range said {
			if n := r.counts(streams.StreamResults, streams.ResultSubject(streams.ResultKindSTT, id))[streams.ResultSubject(streams.ResultKindSTT, id)]; n < uint64(len(want)) {
				return fmt.Errorf("session %s: %d of %d transcripts", id, n, len(want))
			}
		}
		lastTranscript = time.Now()
		return nil
	})
	// Every chunk settled, so that a transcript published twice would show.
	r.settled(gapTimeout+time.Minute, streams.StreamSTT, streams.ConsumerSTT)

	lost, duplicated := 0, 0
	for id, want := range said {
		got := sttTranscripts(r, id)
		var texts []string
		for k, tr := range got {
			texts = append(texts, tr.GetText())
			if tr.GetKind() != jetflowv1.Transcript_KIND_FINAL || tr.GetSegmentId() != int64(k) || len(tr.GetGaps()) != 0 {
				t.Errorf("session %s transcript %d: %v segment %d gaps %v", id, k, tr.GetKind(), tr.GetSegmentId(), tr.GetGaps())
			}
		}
		if !slices.Equal(texts, want) {
			t.Errorf("session %s:\n got %q\nwant %q", id, texts, want)
		}
		finals := map[string]int{}
		for _, tr := range got {
			if tr.GetKind() == jetflowv1.Transcript_KIND_FINAL {
				finals[tr.GetText()]++
			}
		}
		for _, sentence := range want {
			lost += max(0, 1-finals[sentence])
			duplicated += max(0, finals[sentence]-1)
		}
	}
	dead := r.deadLetters()
	for _, m := range dead {
		t.Errorf("dead letter at %s: %s", m.Subject(), m.Headers().Get("Jetflow-Error"))
	}
	for _, w := range replicas {
		if w.Kills() != 1 || !w.Running() {
			t.Errorf("%s: %d kills, running %v", w.Name, w.Kills(), w.Running())
		}
	}
	ackPending := "max_ack_pending as defined"
	if maxAckPending > 0 {
		ackPending = fmt.Sprintf("max_ack_pending %d", maxAckPending)
	}
	Figures{
		Scenario: scenario, Load: len(order),
		Faults: "kill -9 of each of the 2 stt-module replicas once, mid-stream, restarted", Lost: lost, Duplicated: duplicated,
		DeadLettered: len(dead), UpstreamCalls: r.models.Calls(sttRoute), Recover: lastTranscript.Sub(lastRestart), Duration: time.Since(start),
		Notes: fmt.Sprintf("%d sessions, %d transcripts; %d chunks + %d duplicates, each session's shuffled within %v, published over %v, %s; recover: last restart to last transcript",
			sessions, sessions*sentences, chunks, dups, window, published.Round(100*time.Millisecond), ackPending),
	}.Report(t)
}
