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
	ctx := Suite(t, 4*time.Minute)
	var (
		sessions  = Scale(6, 20)
		sentences = Scale(2, 4)
		spread    = Scale(6*time.Second, 20*time.Second) // how long publishing takes
	)
	// Longer than publishing one session plus a crash's redelivery (the ack wait), so that no
	// chunk is reported missing: a gap here would be a lost chunk.
	gapTimeout := spread + 10*time.Second
	const sttAckWait = 3 * time.Second
	r := newRig(t, ctx, standin.Config{}, ackWait(sttAckWait, streams.StreamSTT, streams.ConsumerSTT))
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
	var order []*jetflowv1.SttAudioChunk
	chunks := 0
	for i := range sessions {
		id := "stt-" + strconv.Itoa(i)
		// Each session says its own sentences, so a chunk that strayed into another would show.
		for j := range sentences {
			said[id] = append(said[id], sttSentences[(i+j)%len(sttSentences)])
		}
		cs := sttSession(id, said[id], sttRate)
		chunks += len(cs)
		order = append(order, cs...)
	}
	rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	dups := len(order) / 10
	for range dups {
		order = slices.Insert(order, rng.IntN(len(order)+1), order[rng.IntN(len(order))])
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
	// Every chunk settled (the ones that arrived ahead come back at their gap deadline), so
	// that a transcript published twice would show.
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
		lost += max(0, len(want)-len(got))
		duplicated += max(0, len(got)-len(want))
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
	Figures{
		Scenario: "7 STT disorder", Load: len(order),
		Faults: "kill -9 of each of the 2 stt-module replicas once, mid-stream, restarted", Lost: lost, Duplicated: duplicated,
		DeadLettered: len(dead), UpstreamCalls: r.models.Calls(sttRoute), Recover: lastTranscript.Sub(lastRestart), Duration: time.Since(start),
		Notes: fmt.Sprintf("%d sessions, %d transcripts; %d chunks shuffled + %d duplicates published over %v; recover: last restart to last transcript",
			sessions, sessions*sentences, chunks, dups, published.Round(100*time.Millisecond)),
	}.Report(t)
}
