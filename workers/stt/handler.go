package stt

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"github.com/jetflow-dev/jetflow/internal/failure"
	"github.com/jetflow-dev/jetflow/internal/session"
	"github.com/jetflow-dev/jetflow/internal/stage"
	jetflowv1 "github.com/jetflow-dev/jetflow/proto/jetflow/v1"
	"github.com/jetflow-dev/jetflow/streams"
)

// maxReadRounds bounds how often one chunk's update stops to read pending chunks back. One
// round is the rule; more happen only when chunks keep arriving during the reads.
const maxReadRounds = 10

// handle applies one chunk to its session, then publishes the session's outbox if it holds the
// lease.
func (w *Worker) handle(ctx context.Context, c *jetflowv1.SttAudioChunk, in *stage.Input) ([]stage.Output, error) {
	id, seq := c.GetSessionId(), c.GetSequence()
	if want := streams.STTAudioSubject(id); in.Subject != want {
		return nil, failure.Invalidf("chunk of session %s arrived on %s; chunks of a session go to %s", id, in.Subject, want)
	}
	if w.onDelivery != nil {
		w.onDelivery(seq, in.Delivered)
	}
	cache := chunkCache{in.Sequence: c}
	token := rand.Text()
	now := time.Now()
	var res arrival
	var e session.Entry[sessionState]
	var err error
	for round := 0; ; round++ {
		e, err = w.update(ctx, id, func(cur *sessionState, exists bool) (sessionState, error) {
			r, err := w.arrive(cur, exists, id, c, in.Sequence, now, cache, token)
			if err != nil {
				return sessionState{}, err
			}
			if cur.JSON != in.JSON {
				cur.JSON, r.changed = in.JSON, true
			}
			res = r
			if !r.changed {
				return sessionState{}, session.ErrSkip
			}
			return *cur, nil
		})
		var need *needChunksError
		if !errors.As(err, &need) || round == maxReadRounds {
			break
		}
		if err := w.readChunks(ctx, cache, need.streamSeqs); err != nil {
			return nil, err
		}
	}
	if err != nil {
		return nil, fmt.Errorf("applying chunk %d to session %s: %w", seq, id, err)
	}
	for _, g := range res.gaps {
		w.log.Warn("skipped missing audio chunks", "session", id, "first_missing", g.First, "last_missing", g.Last)
	}
	if res.claimed {
		publish := func(ctx context.Context, subject string, t *jetflowv1.Transcript, itemID string) error {
			return in.Emit(ctx, stage.Output{Subject: subject, Msg: t, ID: itemID})
		}
		if err := w.drain(ctx, id, e.Value, token, cache, publish); err != nil {
			return nil, fmt.Errorf("publishing results of session %s: %w", id, err)
		}
	}
	switch res.outcome {
	case outcomeWaiting:
		// Acked: the session records it, and the chunk is read back from AI_STT when the
		// missing one arrives or when the sweeper jumps the gap after STT_GAP_TIMEOUT. Naked
		// until then, it held an ack-pending slot for the whole gap, and wide disorder across
		// sessions filled max_ack_pending and stalled the stage.
		w.log.Debug("chunk waits for earlier chunks", "session", id, "seq", seq, "next_expected", e.Value.NextSeq, "gap_times_out_in", res.wait)
	case outcomeDuplicate:
		w.log.Debug("dropping duplicate chunk", "session", id, "seq", seq)
	case outcomeDropped:
		w.log.Info("dropping chunk after the end of the stream", "session", id, "seq", seq)
	}
	return nil, nil
}
