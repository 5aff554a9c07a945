package voice

import (
	"context"
	"errors"

	"github.com/jetflow-dev/jetflow/internal/session"
	"github.com/jetflow-dev/jetflow/internal/stage"
)

// turnRef names one turn of one session; session is empty for a request without one.
type turnRef struct {
	session, turn, request string
}

// turnID is the turn a request or hand-off belongs to: its own turn id, or its request id.
func turnID(turn, request string) string {
	if turn != "" {
		return turn
	}
	return request
}

// hold is a handler's registration for its turn.
type hold struct {
	release func()
	// state is the session as read after registering; nil without a session.
	state *sessionState
}

// enter registers the handler of ref with the turn registry and then confirms that ref is still
// the session's current turn, so that a newer turn starting at any moment either shows in that
// read or cancels the registered context. first is the session as the caller last read or wrote
// it. The returned context is cancelled with ErrSuperseded when a newer turn starts in the
// session. ok is false when the turn was superseded; the caller then drops its input.
func (w *Worker) enter(ctx context.Context, ref turnRef, first session.Entry[sessionState]) (_ context.Context, h hold, ok bool, err error) {
	if ref.session == "" {
		return ctx, hold{release: func() {}}, true, nil
	}
	if first.Value.CurrentTurn != ref.turn {
		return ctx, hold{}, false, nil
	}
	held, release := w.turns.Register(ctx, ref.session, ref.turn, first.Revision)
	s, err := w.sessionStore.Get(held)
	if err != nil {
		release()
		return ctx, hold{}, false, err
	}
	e, err := s.get(held, ref.session)
	switch {
	case superseded(held, err):
		// Cancelled by the registry while reading: a newer turn started.
		release()
		return ctx, hold{}, false, nil
	case err != nil:
		release()
		return ctx, hold{}, false, err
	case e.Value.CurrentTurn != ref.turn:
		release()
		return ctx, hold{}, false, nil
	}
	return held, hold{release: release, state: &e.Value}, true, nil
}

// turnWork is a stage's work on one turn. ctx is cancelled with ErrSuperseded when a newer turn
// starts in the session; state is the session as read on entering the turn (nil without a
// session).
type turnWork func(ctx context.Context, state *sessionState) ([]stage.Output, error)

// inTurn is how every stage works on a turn: it enters ref's turn (first is the session as the
// caller last wrote it; nil reads it now), runs work, and releases the turn when work returns.
// When the turn was superseded, before work or during it, the input is dropped: no outputs and
// no error, so the runtime acks it.
func (w *Worker) inTurn(ctx context.Context, stageName string, ref turnRef, first *session.Entry[sessionState], work turnWork) ([]stage.Output, error) {
	if first == nil {
		e, err := w.readSession(ctx, ref)
		if err != nil {
			return nil, err
		}
		first = &e
	}
	ctx, h, ok, err := w.enter(ctx, ref, *first)
	if err != nil {
		return nil, err
	}
	if !ok {
		w.drop(stageName, ref)
		return nil, nil
	}
	defer h.release()
	outs, err := work(ctx, h.state)
	if superseded(ctx, err) {
		w.drop(stageName, ref)
		return nil, nil
	}
	return outs, err
}

// readSession reads the session of ref; the zero entry for a request without a session.
func (w *Worker) readSession(ctx context.Context, ref turnRef) (session.Entry[sessionState], error) {
	if ref.session == "" {
		return session.Entry[sessionState]{}, nil
	}
	s, err := w.sessionStore.Get(ctx)
	if err != nil {
		return session.Entry[sessionState]{}, err
	}
	return s.get(ctx, ref.session)
}

// stillCurrent confirms, just before publishing, that ref was not superseded.
func (w *Worker) stillCurrent(ctx context.Context, ref turnRef) (bool, error) {
	if superseded(ctx, nil) {
		return false, nil
	}
	if ref.session == "" {
		return true, nil
	}
	s, err := w.sessionStore.Get(ctx)
	if err != nil {
		return false, err
	}
	e, err := s.get(ctx, ref.session)
	if err != nil {
		if superseded(ctx, err) {
			return false, nil
		}
		return false, err
	}
	return e.Value.CurrentTurn == ref.turn, nil
}

// superseded reports whether err, or the cancellation of ctx, says that a newer turn started.
func superseded(ctx context.Context, err error) bool {
	return errors.Is(err, ErrSuperseded) || errors.Is(context.Cause(ctx), ErrSuperseded)
}

// drop logs a superseded turn's input being dropped. The handler returns no outputs and no
// error: the input is acked, its work is not wanted any more.
func (w *Worker) drop(stageName string, ref turnRef) {
	w.log.Info("dropping the work of a superseded turn", "stage", stageName, "session", ref.session, "turn", ref.turn, "request_id", ref.request)
}
