package stt

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"github.com/jetflow-dev/jetflow/internal/session"
	"github.com/jetflow-dev/jetflow/internal/stage"
	jetflowv1 "github.com/jetflow-dev/jetflow/proto/jetflow/v1"
)

// listTimeout bounds one listing of the session bucket.
const listTimeout = 10 * time.Second

// Sweeper jumps the gaps of sessions whose missing chunk did not come within the gap timeout,
// closes the open segments of sessions whose chunks stopped coming, and publishes outboxes whose
// publisher gave up or died. Every replica runs one; the CAS on the session and
// the deterministic result ids make their work land once.
type Sweeper struct {
	w *Worker
}

// Name names the runner.
func (s *Sweeper) Name() string { return SweeperName }

// Run sweeps every SweepInterval until ctx ends. Sweeps run on the calling goroutine, so when
// Run returns nothing it started is still running.
func (s *Sweeper) Run(ctx context.Context) error {
	t := time.NewTicker(s.w.cfg.SweepInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		s.sweep(ctx)
	}
}

// sweep makes one pass over the sessions.
func (s *Sweeper) sweep(ctx context.Context) {
	ids, err := s.candidates(ctx, time.Now())
	if err != nil {
		if ctx.Err() == nil {
			s.w.log.Warn("listing sessions to sweep", "error", err)
		}
		return
	}
	for _, id := range ids {
		if ctx.Err() != nil {
			return
		}
		if err := s.sweepOne(ctx, id); err != nil && ctx.Err() == nil {
			s.w.log.Warn("sweeping session", "session", id, "error", err)
		}
	}
}

// candidates lists the sessions with something to do: a gap that timed out, an open segment
// without audio for the idle timeout, or an outbox without a live lease. One scan of the bucket delivers every
// session's latest value, so the listing costs no read per session.
func (s *Sweeper) candidates(ctx context.Context, now time.Time) ([]string, error) {
	store, err := s.w.sessions.Get(ctx)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, listTimeout)
	defer cancel()
	var ids []string
	err = store.Scan(ctx, func(id string, e session.Entry[sessionState], err error) error {
		// A value that does not decode fails every update of its session, which reports it; the
		// sweeper has nothing to do with it.
		if err == nil && s.due(&e.Value, now) {
			ids = append(ids, id)
		}
		return nil
	})
	if err != nil {
		return nil, err // Scan's error says what failed; sweep logs it as the listing's
	}
	return ids, nil
}

// due reports whether a session needs the sweeper.
func (s *Sweeper) due(st *sessionState, now time.Time) bool {
	idle := s.w.idleDue(st, now)
	abandoned := len(st.Outbox) > 0 && (st.Lease == nil || !now.Before(st.Lease.Until))
	return idle || abandoned || s.w.gapDue(st, now)
}

// sweepOne jumps the session's timed-out gap, closes its idle segment if it still has one, and
// publishes its outbox if the lease is free.
func (s *Sweeper) sweepOne(ctx context.Context, id string) error {
	token := rand.Text()
	now := time.Now()
	cache := chunkCache{}
	var claimed bool
	var gaps []seqGap
	var e session.Entry[sessionState]
	var err error
	for round := 0; ; round++ {
		e, err = s.w.update(ctx, id, func(cur *sessionState, exists bool) (sessionState, error) {
			claimed, gaps = false, nil
			if !exists {
				return sessionState{}, session.ErrSkip
			}
			skipped, jumped, err := s.w.jumpGaps(cur, id, now, cache)
			if err != nil {
				return sessionState{}, err
			}
			idled, c, err := s.w.idle(cur, id, now, token)
			if err != nil {
				return sessionState{}, err
			}
			if !jumped && !idled {
				return sessionState{}, session.ErrSkip
			}
			claimed, gaps = c, skipped
			return *cur, nil
		})
		var need *needChunksError
		if !errors.As(err, &need) || round == maxReadRounds {
			break
		}
		if err := s.w.readChunks(ctx, cache, need.streamSeqs); err != nil {
			return fmt.Errorf("reading the chunks waiting behind a gap of session %s: %w", id, err)
		}
	}
	if err != nil {
		return fmt.Errorf("sweeping session %s: %w", id, err)
	}
	for _, g := range gaps {
		s.w.log.Warn("skipped missing audio chunks", "session", id, "first_missing", g.First, "last_missing", g.Last)
	}
	if !claimed {
		return nil
	}
	return s.w.drain(ctx, id, e.Value, token, cache, s.publisher(e.Value.JSON))
}

// publisher returns how the sweeper publishes the results of a session: as the stage publishes
// an output with an ID (stage.BuildOutput), so that a result published by a handler and by the
// sweeper lands once, and in the encoding the session's chunks arrive in (asJSON), like the
// results its handlers publish.
func (s *Sweeper) publisher(asJSON bool) publishFunc {
	return func(ctx context.Context, subject string, t *jetflowv1.Transcript, id string) error {
		msg, err := stage.BuildOutput(ctx, StageName, stage.Output{Subject: subject, Msg: t, ID: id}, asJSON)
		if err != nil {
			return err
		}
		if _, err := s.w.js.PublishMsg(ctx, msg); err != nil {
			return fmt.Errorf("publishing to %s: %w", subject, err)
		}
		return nil
	}
}
