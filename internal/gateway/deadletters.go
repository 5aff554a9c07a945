package gateway

import (
	"errors"
	"fmt"
	"sync"

	"connectrpc.com/connect"
	"github.com/nats-io/nats.go"

	"github.com/jetflow-dev/jetflow/internal/stage"
	jetflowv1 "github.com/jetflow-dev/jetflow/proto/jetflow/v1"
	"github.com/jetflow-dev/jetflow/streams"
)

// deadLetter is what a waiting call learns when a stage gives up on its request.
type deadLetter struct {
	stage, kind, reason string
}

// err is the call's error: a permanent failure will fail again as sent; retries used up or a
// worker that died on it every time may not.
func (d deadLetter) err() error {
	code, retryable := connect.CodeFailedPrecondition, false
	if d.kind != stage.KindPermanent {
		code, retryable = connect.CodeAborted, true
	}
	return newError(code, &jetflowv1.ErrorDetail{
		Code:      DetailDeadLettered,
		Message:   fmt.Sprintf("stage %s gave up on the request (%s): %s; an operator can read it with jetflow dlq", d.stage, d.kind, d.reason),
		Stage:     d.stage,
		Retryable: retryable,
	}, fmt.Errorf("%w by %s: %s", ErrDeadLettered, d.stage, d.reason))
}

// deadLetterWatch is the gateway's one subscription on ai.dlq.>: it hands each dead letter to
// the call waiting on its request, found by the stream the request went to and its request id
// (both in the dead letter's headers). Dead letters are rare, so one shared subscription costs
// less than one per call.
type deadLetterWatch struct {
	mu      sync.Mutex
	waiting map[string]chan deadLetter
	sub     *nats.Subscription
}

func watchKey(stream, requestID string) string { return stream + "/" + requestID }

func startDeadLetterWatch(nc *nats.Conn) (*deadLetterWatch, error) {
	w := &deadLetterWatch{waiting: map[string]chan deadLetter{}}
	sub, err := nc.Subscribe(streams.SubjectDeadLetterAll, w.deliver)
	if err != nil {
		return nil, fmt.Errorf("subscribing to %s: %w", streams.SubjectDeadLetterAll, err)
	}
	w.sub = sub
	return w, nil
}

func (w *deadLetterWatch) deliver(m *nats.Msg) {
	key := watchKey(m.Header.Get(stage.HeaderOriginalStream), m.Header.Get(stage.HeaderRequestID))
	w.mu.Lock()
	ch, ok := w.waiting[key]
	w.mu.Unlock()
	if !ok {
		return
	}
	reason := m.Header.Get(stage.HeaderError)
	if len(reason) > 512 {
		reason = reason[:512] + "..."
	}
	select {
	case ch <- deadLetter{stage: m.Header.Get(stage.HeaderStage), kind: m.Header.Get(stage.HeaderErrorKind), reason: reason}:
	default: // one is enough
	}
}

// add registers a call waiting on requestID in stream; the returned function removes it. Two
// calls with one request id (a client retrying while its first call still waits) share
// nothing: the later registration wins, and the earlier call still ends at its deadline.
func (w *deadLetterWatch) add(stream, requestID string) (<-chan deadLetter, func()) {
	key := watchKey(stream, requestID)
	ch := make(chan deadLetter, 1)
	w.mu.Lock()
	w.waiting[key] = ch
	w.mu.Unlock()
	return ch, func() {
		w.mu.Lock()
		if w.waiting[key] == ch {
			delete(w.waiting, key)
		}
		w.mu.Unlock()
	}
}

func (w *deadLetterWatch) stop() error {
	if err := w.sub.Unsubscribe(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
		return fmt.Errorf("removing the dead-letter subscription: %w", err)
	}
	return nil
}
