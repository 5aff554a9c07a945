package stt

import (
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/jetflow-dev/jetflow/internal/audio/vad"
	"github.com/jetflow-dev/jetflow/internal/breaker"
	"github.com/jetflow-dev/jetflow/internal/failure"
	"github.com/jetflow-dev/jetflow/internal/session"
	"github.com/jetflow-dev/jetflow/internal/upstream/transcribe"
	jetflowv1 "github.com/jetflow-dev/jetflow/proto/jetflow/v1"
	"github.com/jetflow-dev/jetflow/streams"
)

// publishFunc publishes one result with the Nats-Msg-Id "stt:<id>" and waits for its ack: the
// stage's in.Emit for a handler, a plain JetStream publish for the sweeper.
type publishFunc func(ctx context.Context, subject string, t *jetflowv1.Transcript, id string) error

// errCrashed is returned by the test hook that simulates a crash between publishing and removing.
var errCrashed = errors.New("simulated crash after publishing")

// drain publishes the outbox of session id, starting from the state st the caller wrote while
// taking the lease for token, in order, and removes what it published. It keeps going while
// new items arrive and it still holds the lease. On failure it gives the lease back, so that
// the next delivery or the sweeper publishes the rest without waiting for it to expire.
func (w *Worker) drain(ctx context.Context, id string, st sessionState, token string, cache chunkCache, publish publishFunc) error {
	for {
		published := make(map[string]bool, len(st.Outbox))
		for _, it := range st.Outbox {
			if err := w.publishItem(ctx, id, &st, it, cache, publish); err != nil {
				w.release(ctx, id, token)
				return err
			}
			published[it.ID] = true
		}
		if w.crashAfterPublish != nil && w.crashAfterPublish() {
			return errCrashed // the lease stays taken, as after a real crash
		}
		var lost bool
		e, err := w.update(ctx, id, func(cur *sessionState, exists bool) (sessionState, error) {
			if !exists {
				return sessionState{}, session.ErrSkip
			}
			lost = !cur.holds(token)
			cur.removePublished(published)
			if !lost {
				cur.Lease = nil
				cur.claim(time.Now(), w.cfg.PublishLease, token)
			}
			cur.prune(w.keepFrom(cur))
			return *cur, nil
		})
		if err != nil {
			w.release(ctx, id, token)
			return fmt.Errorf("removing published results of session %s: %w", id, err)
		}
		if lost || !e.Value.holds(token) {
			if lost {
				w.log.Info("outbox lease expired while publishing; another publisher continues", "session", id)
			}
			return nil
		}
		st = e.Value
	}
}

// release gives the lease back if token still holds it. It runs after a failure, possibly with
// a cancelled ctx, so it has its own short deadline.
func (w *Worker) release(ctx context.Context, id, token string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_, err := w.update(ctx, id, func(cur *sessionState, exists bool) (sessionState, error) {
		if !exists || !cur.holds(token) {
			return sessionState{}, session.ErrSkip
		}
		cur.Lease = nil
		return *cur, nil
	})
	if err != nil {
		w.log.Warn("releasing outbox lease; it expires by itself", "session", id, "error", err)
	}
}

// publishItem publishes one outbox item: a gap report as it is, a segment after transcribing
// its audio.
func (w *Worker) publishItem(ctx context.Context, id string, st *sessionState, it outItem, cache chunkCache, publish publishFunc) error {
	rate := vad.Config{SampleRate: st.SampleRate}
	t := &jetflowv1.Transcript{
		SessionId: id,
		SegmentId: it.Segment,
		Kind:      jetflowv1.Transcript_KIND_FINAL,
		Start:     durationpb.New(rate.Duration(it.Start)),
		End:       durationpb.New(rate.Duration(it.End)),
		Language:  it.Language,
		SpeakerId: it.SpeakerID,
	}
	for _, g := range it.Gaps {
		t.Gaps = append(t.Gaps, &jetflowv1.SequenceGap{FirstMissing: g.First, LastMissing: g.Last})
	}
	if it.Kind == itemGap {
		t.Kind = jetflowv1.Transcript_KIND_GAP
	} else {
		pcm, err := w.gather(ctx, st, it, cache)
		if err != nil {
			return err
		}
		if len(pcm) > 0 {
			if err := w.transcribe(ctx, id, it, pcm, st.SampleRate, t); err != nil {
				return err
			}
		}
	}
	if err := publish(ctx, streams.ResultSubject(streams.ResultKindSTT, id), t, it.ID); err != nil {
		return fmt.Errorf("publishing %s: %w", it.ID, err)
	}
	return nil
}

// transcribe fills t's text from the transcription server. A refusal of this audio (4xx) is
// not retried: the segment is published with empty text, so that it never blocks the ones after
// it.
func (w *Worker) transcribe(ctx context.Context, id string, it outItem, pcm []byte, rate int, t *jetflowv1.Transcript) error {
	req := transcribe.Request{PCM: pcm, SampleRate: rate, Language: transcribe.LanguageCode(it.Language)}
	if req.Language == "" {
		// Only the verbose response names the language the server detected.
		req.Format = transcribe.FormatVerboseJSON
	}
	res, err := breaker.Do(ctx, w.breakers.Get(breaker.STT), func(ctx context.Context) (transcribe.Result, error) {
		return w.stt.Transcribe(ctx, req)
	})
	switch {
	case err == nil:
		t.Text = res.Text
		if t.Language == "" {
			t.Language = res.Language
		}
		return nil
	case failure.IsPermanent(err):
		w.log.Error("transcription refused the segment; publishing it without text", "session", id, "segment", it.ID, "error", err)
		return nil
	default:
		return fmt.Errorf("transcribing %s: %w", it.ID, err)
	}
}

// gather cuts a segment's audio out of the chunks it spans. Audio of a chunk gone from the
// stream is replaced by silence, so the times in the segment stay right.
func (w *Worker) gather(ctx context.Context, st *sessionState, it outItem, cache chunkCache) ([]byte, error) {
	if it.End <= it.Start {
		return nil, nil
	}
	var refs []chunkRef
	var seqs []uint64
	for _, r := range st.Chunks {
		if max(it.Start, r.Offset) < min(it.End, r.end()) {
			refs = append(refs, r)
			seqs = append(seqs, r.StreamSeq)
		}
	}
	if err := w.readChunks(ctx, cache, seqs); err != nil {
		return nil, err
	}
	pcm := make([]byte, 0, 2*(it.End-it.Start))
	for _, r := range refs {
		from, to := max(it.Start, r.Offset), min(it.End, r.end())
		c := cache[r.StreamSeq]
		if c == nil || int64(len(c.GetPcm())) != 2*r.Samples {
			pcm = append(pcm, make([]byte, 2*(to-from))...)
			continue
		}
		pcm = append(pcm, c.GetPcm()[2*(from-r.Offset):2*(to-r.Offset)]...)
	}
	return pcm, nil
}
