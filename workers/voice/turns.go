package voice

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetflow-dev/jetflow/internal/session"
)

// Turns is one process's registry of in-flight turn handlers. It watches the voice-sessions
// bucket and, when a session's current turn changes (on any replica), cancels the contexts of
// this process's handlers of that session's other turns with ErrSuperseded, which aborts
// their model calls. It is a worker.Runner; without Run it still cancels on what this process
// itself observes (Observe), but not on turns started by other replicas.
//
// A missed update (the watch restarting after a lost connection) costs only the early
// cancellation: handlers check the session again before they publish.
type Turns struct {
	kvm    jetstream.KeyValueManager
	bucket string
	log    *slog.Logger

	mu       sync.Mutex
	sessions map[string]map[*registration]struct{}
}

// registration is one handler's hold on its turn.
type registration struct {
	turn string
	// seen is the bucket revision at which the handler saw its turn current. An update at or
	// below it is older news (a watch that lags behind the handler's own read) and cancels
	// nothing.
	seen   uint64
	cancel context.CancelCauseFunc
}

// NewTurns returns a registry watching bucket.
func NewTurns(kvm jetstream.KeyValueManager, bucket string, log *slog.Logger) *Turns {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Turns{kvm: kvm, bucket: bucket, log: log, sessions: map[string]map[*registration]struct{}{}}
}

// Name names the runner.
func (t *Turns) Name() string { return "voice-turns" }

// Register makes the handler of (session, turn) cancellable: the returned context is cancelled
// with ErrSuperseded when an update newer than revision seen shows another current turn.
// release must be called when the handler ends.
func (t *Turns) Register(ctx context.Context, session, turn string, seen uint64) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(ctx)
	r := &registration{turn: turn, seen: seen, cancel: cancel}
	t.mu.Lock()
	regs := t.sessions[session]
	if regs == nil {
		regs = map[*registration]struct{}{}
		t.sessions[session] = regs
	}
	regs[r] = struct{}{}
	t.mu.Unlock()
	var once sync.Once
	return ctx, func() {
		once.Do(func() {
			t.remove(session, r)
			cancel(nil)
		})
	}
}

func (t *Turns) remove(session string, r *registration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	regs := t.sessions[session]
	delete(regs, r)
	if len(regs) == 0 {
		delete(t.sessions, session)
	}
}

// Observe tells the registry that at revision the session's current turn is turn ("" for a
// deleted session), and cancels the handlers of its other turns registered before that. It
// returns how many it cancelled.
func (t *Turns) Observe(session, turn string, revision uint64) int {
	t.mu.Lock()
	var victims []*registration
	for r := range t.sessions[session] {
		if r.turn != turn && revision > r.seen {
			victims = append(victims, r)
		}
	}
	for _, r := range victims {
		delete(t.sessions[session], r)
	}
	if len(t.sessions[session]) == 0 {
		delete(t.sessions, session)
	}
	t.mu.Unlock()
	for _, r := range victims {
		r.cancel(ErrSuperseded)
		t.log.Info("cancelled a superseded turn", "session", session, "turn", r.turn, "current", turn)
	}
	return len(victims)
}

// Run watches the bucket until ctx ends, restarting the watch after errors with a backoff.
// The bucket may not exist yet when the worker starts (streams applied later): that is one
// more error to wait out.
func (t *Turns) Run(ctx context.Context) error {
	wait := 100 * time.Millisecond
	for {
		started, err := t.watch(ctx)
		if ctx.Err() != nil {
			return nil //nolint:nilerr // shutdown ends the watch: a clean stop
		}
		if started {
			wait = 100 * time.Millisecond
		}
		t.log.Warn("watching voice sessions, retrying", "bucket", t.bucket, "error", err, "retry_in", wait)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		wait = min(wait*2, 5*time.Second)
	}
}

// watch runs one watch until it fails or ctx ends. started reports whether it got as far as
// receiving updates.
func (t *Turns) watch(ctx context.Context) (started bool, err error) {
	kv, err := t.kvm.KeyValue(ctx, t.bucket)
	if err != nil {
		return false, fmt.Errorf("opening bucket %s: %w", t.bucket, err)
	}
	w, err := kv.WatchAll(ctx, jetstream.UpdatesOnly())
	if err != nil {
		return false, fmt.Errorf("watching bucket %s: %w", t.bucket, err)
	}
	defer session.StopWatch(w)
	// Whatever changed while no watch ran is read once now.
	t.reconcile(ctx, kv)
	for {
		select {
		case <-ctx.Done():
			return true, nil
		case e, ok := <-w.Updates():
			if !ok {
				return true, errors.New("the watch ended (connection closed)")
			}
			if e == nil {
				continue
			}
			t.apply(e)
		}
	}
}

// apply handles one update of the bucket.
func (t *Turns) apply(e jetstream.KeyValueEntry) {
	if e.Operation() != jetstream.KeyValuePut {
		t.Observe(e.Key(), "", e.Revision())
		return
	}
	turn, err := decodeTurn(e.Value())
	if err != nil {
		t.log.Warn("ignoring an undecodable voice session", "session", e.Key(), "revision", e.Revision(), "error", err)
		return
	}
	t.Observe(e.Key(), turn, e.Revision())
}

// reconcile reads the sessions that have registered handlers and applies what it finds.
func (t *Turns) reconcile(ctx context.Context, kv jetstream.KeyValue) {
	t.mu.Lock()
	ids := make([]string, 0, len(t.sessions))
	for id := range t.sessions {
		ids = append(ids, id)
	}
	t.mu.Unlock()
	for _, id := range ids {
		e, err := kv.Get(ctx, id)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
			// A deleted key has no revision to compare with; leave it to the handlers' checks.
		case err != nil:
			t.log.Warn("reading a voice session", "session", id, "error", err)
		default:
			t.apply(e)
		}
	}
}
