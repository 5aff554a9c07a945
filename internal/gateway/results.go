package gateway

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"github.com/jetflow-dev/jetflow/internal/stage"
)

// resultReader reads the stored messages of one result subject in stream order. Its
// subscription on the subject only wakes it: what it returns is read from AI_RESULTS (a direct
// get of the next message on the subject), so a message published before the subscription (a
// retried request's answer) or while the connection was down is read all the same. Close
// removes the subscription; every call closes its reader when it returns.
type resultReader struct {
	s       *Server
	subject string
	subs    []*nats.Subscription
	wake    chan struct{}
	failed  <-chan deadLetter
	next    uint64
}

// openResults subscribes to subject before anything is published, so no wake-up is missed.
// failed delivers the dead letter of the call's request, if a stage gives up on it. A message
// on any of alsoWakeOn wakes the reader too (a session's KV key, for Transcribe).
func (s *Server) openResults(subject string, failed <-chan deadLetter, alsoWakeOn ...string) (*resultReader, error) {
	r := &resultReader{s: s, subject: subject, wake: make(chan struct{}, 1), failed: failed, next: 1}
	for _, subj := range append([]string{subject}, alsoWakeOn...) {
		sub, err := s.cfg.NC.Subscribe(subj, r.wakeUp)
		if err != nil {
			r.Close()
			return nil, fmt.Errorf("subscribing to %s: %w", subj, err)
		}
		r.subs = append(r.subs, sub)
	}
	return r, nil
}

func (r *resultReader) wakeUp(*nats.Msg) {
	select {
	case r.wake <- struct{}{}:
	default: // a wake-up is already pending; one read catches up with both
	}
}

// Close removes the subscriptions.
func (r *resultReader) Close() {
	for _, sub := range r.subs {
		if err := sub.Unsubscribe(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) && !errors.Is(err, nats.ErrBadSubscription) {
			r.s.cfg.Log.Warn("removing a result subscription", "subject", sub.Subject, "error", err)
		}
	}
}

// waitWake waits for a wake-up, the recheck interval, the dead letter or the end of ctx.
func (r *resultReader) waitWake(ctx context.Context, recheck *time.Timer) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case dl := <-r.failed:
		return dl.err()
	case <-r.wake:
	case <-recheck.C:
		recheck.Reset(r.s.cfg.Recheck)
	}
	return nil
}

// Next returns the next stored message on the subject, waiting for it until ctx ends or the
// request is dead-lettered.
func (r *resultReader) Next(ctx context.Context) (*jetstream.RawStreamMsg, error) {
	recheck := time.NewTimer(r.s.cfg.Recheck)
	defer recheck.Stop()
	for {
		msg, err := r.read(ctx)
		if err == nil {
			r.next = msg.Sequence + 1
			return msg, nil
		}
		if !errors.Is(err, jetstream.ErrMsgNotFound) {
			return nil, err
		}
		if err := r.waitWake(ctx, recheck); err != nil {
			return nil, err
		}
	}
}

func (r *resultReader) read(ctx context.Context) (*jetstream.RawStreamMsg, error) {
	results, err := r.s.results.Get(ctx)
	if err != nil {
		return nil, err
	}
	msg, err := results.GetMsg(ctx, r.next, jetstream.WithGetMsgSubject(r.subject))
	if err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, fmt.Errorf("reading %s from sequence %d: %w", r.subject, r.next, err)
	}
	return msg, err
}

// decodeResult decodes a stored result into msg, refusing one of another type (its Jetflow-Type
// header names the type; a result subject may carry several).
func decodeResult(raw *jetstream.RawStreamMsg, msg proto.Message) error {
	if err := stage.Decode(raw.Header, raw.Data, msg); err != nil {
		return fmt.Errorf("decoding result %d on %s: %w", raw.Sequence, raw.Subject, err)
	}
	return nil
}

// resultType is the message type a stored result names, "" when it names none.
func resultType(raw *jetstream.RawStreamMsg) string {
	return raw.Header.Get(stage.HeaderType)
}
