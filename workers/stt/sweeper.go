package stt

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"github.com/jetflow-dev/jetflow/internal/session"
	"github.com/jetflow-dev/jetflow/internal/stage"
	jetflowv1 "github.com/jetflow-dev/jetflow/proto/jetflow/v1"
)

// listTimeout bounds one listing of the session bucket.
const listTimeout = 10 * time.Second

// Sweeper closes the open segments of sessions whose chunks stopped coming, and publishes
// outboxes whose publisher gave up or died. Every replica runs one; the CAS on the session and
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

// candidates lists the sessions with something to do: an open segment without audio for the
// idle timeout, or an outbox without a live lease. One watch of the bucket delivers every
// session's latest value, so the listing costs no read per session.
func (s *Sweeper) candidates(ctx context.Context, now time.Time) ([]string, error) {
	_, kv, err := s.w.store(ctx)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, listTimeout)
	defer cancel()
	watcher, err := kv.WatchAll(ctx, jetstream.IgnoreDeletes())
	if err != nil {
		return nil, fmt.Errorf("watching session bucket: %w", err)
	}
	defer func() { _ = watcher.Stop() }()
	var ids []string
	for {
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("listing sessions: %w", ctx.Err())
		case e, ok := <-watcher.Updates():
			if !ok {
				return nil, fmt.Errorf("listing sessions: the watch ended early")
			}
			if e == nil { // every current value has been delivered
				return ids, nil
			}
			var st sessionState
			if err := json.Unmarshal(e.Value(), &st); err != nil {
				continue // Update reports a corrupt value; the sweeper has nothing to do with it
			}
			if s.due(&st, now) {
				ids = append(ids, e.Key())
			}
		}
	}
}

// due reports whether a session needs the sweeper.
func (s *Sweeper) due(st *sessionState, now time.Time) bool {
	idle := s.w.idleDue(st, now)
	abandoned := len(st.Outbox) > 0 && (st.Lease == nil || !now.Before(st.Lease.Until))
	return idle || abandoned
}

// sweepOne closes the session's idle segment if it still has one and publishes its outbox if
// the lease is free.
func (s *Sweeper) sweepOne(ctx context.Context, id string) error {
	token := rand.Text()
	var claimed bool
	e, err := s.w.update(ctx, id, func(cur *sessionState, exists bool) (sessionState, error) {
		claimed = false
		if !exists {
			return sessionState{}, session.ErrSkip
		}
		changed, c, err := s.w.idle(cur, id, time.Now(), token)
		if err != nil {
			return sessionState{}, err
		}
		if !changed {
			return sessionState{}, session.ErrSkip
		}
		claimed = c
		return *cur, nil
	})
	if err != nil {
		return fmt.Errorf("sweeping session %s: %w", id, err)
	}
	if !claimed {
		return nil
	}
	return s.w.drain(ctx, id, e.Value, token, chunkCache{}, s.publish)
}

// publish is what the stage does with an output that has an ID, without the stage: the result
// in binary protobuf with the Nats-Msg-Id "stt:<id>", so that it deduplicates against the same
// result published by a handler.
func (s *Sweeper) publish(ctx context.Context, subject string, t *jetflowv1.Transcript, id string) error {
	data, err := proto.Marshal(t)
	if err != nil {
		return fmt.Errorf("encoding transcript: %w", err)
	}
	h := nats.Header{}
	h.Set(jetstream.MsgIDHeader, StageName+":"+id)
	h.Set(stage.HeaderContentType, "application/protobuf")
	h.Set(stage.HeaderType, string(proto.MessageName(t)))
	if _, err := s.w.js.PublishMsg(ctx, &nats.Msg{Subject: subject, Header: h, Data: data}); err != nil {
		return fmt.Errorf("publishing to %s: %w", subject, err)
	}
	return nil
}
