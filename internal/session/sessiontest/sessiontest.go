// Package sessiontest is the contract every session store meets, written once and run against
// each implementation (STYLE.md point 15): the JetStream store in package session today, any
// other backend later. An implementation's test calls Run with a Factory.
package sessiontest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/internal/devkit/jstest"
	"github.com/jetflow-dev/jetflow/internal/session"
)

// Value is the session type the contract stores.
type Value struct {
	Count int    `json:"count"`
	Note  string `json:"note,omitempty"`
}

// Store is the part of session.Store the contract exercises, for T = Value.
type Store interface {
	Get(ctx context.Context, key string) (session.Entry[Value], error)
	Create(ctx context.Context, key string, v Value) (uint64, error)
	Update(ctx context.Context, key string, fn session.UpdateFunc[Value]) (session.Entry[Value], error)
	Delete(ctx context.Context, key string) error
	Scan(ctx context.Context, fn session.ScanFunc[Value]) error
}

// Config says how the factory must build its stores.
type Config struct {
	// Handles is how many stores to return, all over one fresh, empty state, each over its own
	// connection where the implementation has connections (so writers race like replicas do).
	Handles int
	// MaxValueSize is the value size limit in bytes.
	MaxValueSize int
	// MaxAttempts is Update's attempt limit.
	MaxAttempts int
	// TTL is how long a value lives after its last write.
	TTL time.Duration
	// OnConflict must be called on every lost compare-and-swap race (session.OnConflict).
	OnConflict func(key string, attempt int)
}

// Factory builds cfg.Handles stores over one fresh state; it cleans up with t.Cleanup.
type Factory func(t *testing.T, cfg Config) []Store

// Run runs the contract against the stores built by newStores.
func Run(t *testing.T, newStores Factory) {
	tests := []struct {
		name string
		run  func(*testing.T, Factory)
	}{
		{"GetMissing", testGetMissing},
		{"CreateThenGet", testCreateThenGet},
		{"CreateTwice", testCreateTwice},
		{"UpdateAbsentCreates", testUpdateAbsentCreates},
		{"UpdateExisting", testUpdateExisting},
		{"SkipWritesNothing", testSkipWritesNothing},
		{"FuncErrorWritesNothing", testFuncErrorWritesNothing},
		{"TooLarge", testTooLarge},
		{"InvalidKey", testInvalidKey},
		{"Delete", testDelete},
		{"ConcurrentUpdates", testConcurrentUpdates},
		{"ConflictLimit", testConflictLimit},
		{"CancelStopsRetries", testCancelStopsRetries},
		{"TTL", testTTL},
		{"Scan", testScan},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.run(t, newStores)
		})
	}
}

func defaults() Config {
	return Config{Handles: 1, MaxValueSize: 1024, MaxAttempts: 10, TTL: time.Hour}
}

func one(t *testing.T, f Factory) Store {
	t.Helper()
	return f(t, defaults())[0]
}

func increment(cur *Value, _ bool) (Value, error) {
	cur.Count++
	return *cur, nil
}

func testGetMissing(t *testing.T, f Factory) {
	s := one(t, f)
	_, err := s.Get(jstest.Context(t), "absent")
	if !errors.Is(err, session.ErrNotFound) {
		t.Fatalf("Get(absent) = %v, want ErrNotFound", err)
	}
}

func testCreateThenGet(t *testing.T, f Factory) {
	ctx, s := jstest.Context(t), one(t, f)
	rev, err := s.Create(ctx, "a", Value{Count: 7, Note: "n"})
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	if rev == 0 {
		t.Fatal("Create returned revision 0")
	}
	e, err := s.Get(ctx, "a")
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if want := (session.Entry[Value]{Value: Value{Count: 7, Note: "n"}, Revision: rev}); e != want {
		t.Fatalf("Get = %+v, want %+v", e, want)
	}
}

func testCreateTwice(t *testing.T, f Factory) {
	ctx, s := jstest.Context(t), one(t, f)
	rev, err := s.Create(ctx, "a", Value{Count: 1})
	if err != nil {
		t.Fatalf("first Create: %v", err)
	}
	if _, err := s.Create(ctx, "a", Value{Count: 2}); !errors.Is(err, session.ErrExists) {
		t.Fatalf("second Create = %v, want ErrExists", err)
	}
	e, err := s.Get(ctx, "a")
	if err != nil || e.Value.Count != 1 || e.Revision != rev {
		t.Fatalf("after second Create: Get = %+v, %v; want count 1 at revision %d", e, err, rev)
	}
}

func testUpdateAbsentCreates(t *testing.T, f Factory) {
	ctx, s := jstest.Context(t), one(t, f)
	e, err := s.Update(ctx, "a", func(cur *Value, exists bool) (Value, error) {
		if exists || cur == nil || *cur != (Value{}) {
			return Value{}, fmt.Errorf("absent key: got cur %+v exists %v, want zero value and false", cur, exists)
		}
		return Value{Count: 1}, nil
	})
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	got, err := s.Get(ctx, "a")
	if err != nil || got != e || got.Value.Count != 1 {
		t.Fatalf("Get = %+v, %v; want %+v with count 1", got, err, e)
	}
}

func testUpdateExisting(t *testing.T, f Factory) {
	ctx, s := jstest.Context(t), one(t, f)
	rev, err := s.Create(ctx, "a", Value{Count: 41, Note: "keep"})
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	e, err := s.Update(ctx, "a", func(cur *Value, exists bool) (Value, error) {
		if !exists || *cur != (Value{Count: 41, Note: "keep"}) {
			return Value{}, fmt.Errorf("got cur %+v exists %v, want the stored value", *cur, exists)
		}
		return increment(cur, exists)
	})
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	if e.Value != (Value{Count: 42, Note: "keep"}) || e.Revision <= rev {
		t.Fatalf("Update = %+v, want count 42 at a revision after %d", e, rev)
	}
}

func testSkipWritesNothing(t *testing.T, f Factory) {
	ctx, s := jstest.Context(t), one(t, f)
	rev, err := s.Create(ctx, "a", Value{Count: 3})
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	e, err := s.Update(ctx, "a", func(cur *Value, _ bool) (Value, error) {
		cur.Count = 99 // changed, then abandoned: must not leak
		return Value{}, session.ErrSkip
	})
	if err != nil {
		t.Fatalf("skipping Update: %v", err)
	}
	if e.Revision != rev || e.Value.Count != 3 {
		t.Fatalf("skipping Update = %+v, want the stored entry (count 3, revision %d)", e, rev)
	}
	got, err := s.Get(ctx, "a")
	if err != nil || got.Revision != rev || got.Value.Count != 3 {
		t.Fatalf("after skip: Get = %+v, %v; want revision %d unchanged", got, err, rev)
	}

	e, err = s.Update(ctx, "b", func(*Value, bool) (Value, error) { return Value{}, session.ErrSkip })
	if err != nil || e.Revision != 0 {
		t.Fatalf("skipping Update of absent key = %+v, %v; want revision 0, nil", e, err)
	}
	if _, err := s.Get(ctx, "b"); !errors.Is(err, session.ErrNotFound) {
		t.Fatalf("after skip of absent key: Get = %v, want ErrNotFound", err)
	}
}

func testFuncErrorWritesNothing(t *testing.T, f Factory) {
	ctx, s := jstest.Context(t), one(t, f)
	rev, err := s.Create(ctx, "a", Value{Count: 3})
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	boom := errors.New("boom")
	calls := 0
	_, err = s.Update(ctx, "a", func(*Value, bool) (Value, error) { calls++; return Value{}, boom })
	if !errors.Is(err, boom) {
		t.Fatalf("Update = %v, want the function's error", err)
	}
	if calls != 1 {
		t.Fatalf("function called %d times, want 1: its errors are not retried", calls)
	}
	if got, err := s.Get(ctx, "a"); err != nil || got.Revision != rev {
		t.Fatalf("after failed Update: Get = %+v, %v; want revision %d", got, err, rev)
	}
}

func testTooLarge(t *testing.T, f Factory) {
	ctx := jstest.Context(t)
	cfg := defaults()
	s := f(t, cfg)[0]
	big := Value{Note: strings.Repeat("x", cfg.MaxValueSize)}
	_, err := s.Create(ctx, "a", big)
	if !errors.Is(err, session.ErrTooLarge) {
		t.Fatalf("Create(too large) = %v, want ErrTooLarge", err)
	}
	if !strings.Contains(err.Error(), fmt.Sprint(cfg.MaxValueSize)) {
		t.Errorf("error %q does not name the limit %d", err, cfg.MaxValueSize)
	}
	if _, err := s.Get(ctx, "a"); !errors.Is(err, session.ErrNotFound) {
		t.Fatalf("after refused Create: Get = %v, want ErrNotFound", err)
	}
	rev, err := s.Create(ctx, "a", Value{Count: 1})
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	if _, err := s.Update(ctx, "a", func(*Value, bool) (Value, error) { return big, nil }); !errors.Is(err, session.ErrTooLarge) {
		t.Fatalf("Update(too large) = %v, want ErrTooLarge", err)
	}
	if got, err := s.Get(ctx, "a"); err != nil || got.Revision != rev {
		t.Fatalf("after refused Update: Get = %+v, %v; want revision %d", got, err, rev)
	}
}

func testInvalidKey(t *testing.T, f Factory) {
	ctx, s := jstest.Context(t), one(t, f)
	for _, key := range []string{"", "a b", "a.", ".a", "a..b", "a*", "a>", "é", strings.Repeat("k", session.MaxKeyLen+1)} {
		ops := map[string]error{}
		_, ops["Get"] = s.Get(ctx, key)
		_, ops["Create"] = s.Create(ctx, key, Value{})
		_, ops["Update"] = s.Update(ctx, key, increment)
		ops["Delete"] = s.Delete(ctx, key)
		for op, err := range ops {
			if !errors.Is(err, session.ErrInvalidKey) {
				t.Errorf("%s(%q) = %v, want ErrInvalidKey", op, key, err)
			}
		}
	}
}

func testDelete(t *testing.T, f Factory) {
	ctx, s := jstest.Context(t), one(t, f)
	if err := s.Delete(ctx, "never"); err != nil {
		t.Fatalf("Delete of a missing key: %v", err)
	}
	if _, err := s.Create(ctx, "a", Value{Count: 5}); err != nil {
		t.Fatalf("Create: %v", err)
	}
	if err := s.Delete(ctx, "a"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := s.Get(ctx, "a"); !errors.Is(err, session.ErrNotFound) {
		t.Fatalf("after Delete: Get = %v, want ErrNotFound", err)
	}
	e, err := s.Update(ctx, "a", func(cur *Value, exists bool) (Value, error) {
		if exists || cur.Count != 0 {
			return Value{}, fmt.Errorf("after Delete: got %+v exists %v, want absent", *cur, exists)
		}
		return Value{Count: 1}, nil
	})
	if err != nil || e.Value.Count != 1 {
		t.Fatalf("Update after Delete = %+v, %v; want count 1", e, err)
	}
	if err := s.Delete(ctx, "a"); err != nil {
		t.Fatalf("second Delete: %v", err)
	}
	if _, err := s.Create(ctx, "a", Value{Count: 2}); err != nil {
		t.Fatalf("Create after Delete: %v", err)
	}
}

// testConcurrentUpdates races goroutines on several handles for one key: every increment must
// land exactly once, and the conflict count proves the race really happened.
func testConcurrentUpdates(t *testing.T, f Factory) {
	const handles, goroutines, increments = 2, 4, 50
	var conflicts atomic.Int64
	cfg := defaults()
	cfg.Handles = handles
	cfg.MaxAttempts = 1000 // losing is expected here; giving up is not
	cfg.OnConflict = func(string, int) { conflicts.Add(1) }
	stores := f(t, cfg)
	if len(stores) != handles {
		t.Fatalf("factory returned %d stores, want %d", len(stores), handles)
	}
	ctx := jstest.Context(t)
	var wg sync.WaitGroup
	errs := make(chan error, handles*goroutines)
	for _, s := range stores {
		for range goroutines {
			wg.Go(func() {
				for range increments {
					if _, err := s.Update(ctx, "counter", increment); err != nil {
						errs <- err
						return
					}
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("Update: %v", err)
	}
	e, err := stores[1].Get(ctx, "counter")
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if want := handles * goroutines * increments; e.Value.Count != want {
		t.Fatalf("counter = %d, want %d: updates were lost", e.Value.Count, want)
	}
	if conflicts.Load() == 0 {
		t.Fatal("no conflict was retried: the test did not create contention")
	}
	t.Logf("%d conflicts retried", conflicts.Load())
}

// interfering returns an UpdateFunc that, each time it runs, has other write the key first, so
// that every compare-and-swap of the store that runs it loses.
func interfering(t *testing.T, ctx context.Context, other Store, key string) session.UpdateFunc[Value] {
	return func(cur *Value, exists bool) (Value, error) {
		if _, err := other.Update(ctx, key, increment); err != nil {
			t.Errorf("interfering write: %v", err)
		}
		return increment(cur, exists)
	}
}

func testConflictLimit(t *testing.T, f Factory) {
	var attempts atomic.Int64
	cfg := defaults()
	cfg.Handles = 2
	cfg.MaxAttempts = 3
	cfg.OnConflict = func(string, int) { attempts.Add(1) }
	stores := f(t, cfg)
	ctx := jstest.Context(t)
	if _, err := stores[0].Create(ctx, "k", Value{}); err != nil {
		t.Fatalf("Create: %v", err)
	}
	_, err := stores[0].Update(ctx, "k", interfering(t, ctx, stores[1], "k"))
	if !errors.Is(err, session.ErrConflict) {
		t.Fatalf("Update = %v, want ErrConflict", err)
	}
	if got := attempts.Load(); got != 3 {
		t.Fatalf("%d conflicts reported, want one per attempt (3)", got)
	}
	if e, err := stores[0].Get(ctx, "k"); err != nil || e.Value.Count != 3 {
		t.Fatalf("Get = %+v, %v; want only the 3 interfering writes", e, err)
	}
}

func testCancelStopsRetries(t *testing.T, f Factory) {
	cfg := defaults()
	cfg.Handles = 2
	cfg.MaxAttempts = 1_000_000
	ctx, cancel := context.WithCancel(jstest.Context(t))
	defer cancel()
	var attempts atomic.Int64
	cfg.OnConflict = func(string, int) {
		if attempts.Add(1) == 3 {
			cancel()
		}
	}
	stores := f(t, cfg)
	bg := jstest.Context(t)
	_, err := stores[0].Update(ctx, "k", interfering(t, bg, stores[1], "k"))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Update = %v, want context.Canceled", err)
	}
	if errors.Is(err, session.ErrConflict) {
		t.Fatalf("Update = %v, want cancellation, not exhaustion", err)
	}
	if got := attempts.Load(); got != 3 {
		t.Fatalf("%d attempts, want the loop to stop at the cancellation (3)", got)
	}
}

// testTTL checks that a value disappears once the store's TTL has passed since its last write.
func testTTL(t *testing.T, f Factory) {
	cfg := defaults()
	cfg.TTL = time.Second
	s := f(t, cfg)[0]
	ctx := jstest.Context(t)
	start := time.Now()
	if _, err := s.Create(ctx, "short", Value{Count: 1}); err != nil {
		t.Fatalf("Create: %v", err)
	}
	jstest.Eventually(t, 10*cfg.TTL, 50*time.Millisecond, func() error {
		_, err := s.Get(ctx, "short")
		switch {
		case errors.Is(err, session.ErrNotFound):
			return nil
		case err != nil:
			t.Fatalf("Get: %v", err)
		}
		return fmt.Errorf("value still present %v after writing it with a TTL of %v", time.Since(start), cfg.TTL)
	})
	if elapsed := time.Since(start); elapsed < cfg.TTL-100*time.Millisecond {
		t.Fatalf("value gone after %v, before the TTL of %v", elapsed, cfg.TTL)
	}
}

// testScan checks that Scan sees every present session once with its current value and
// revision, skips deleted ones, and stops at the first error of its function.
func testScan(t *testing.T, f Factory) {
	ctx, s := jstest.Context(t), one(t, f)
	seen := map[string]session.Entry[Value]{}
	collect := func(key string, e session.Entry[Value], err error) error {
		if err != nil {
			return fmt.Errorf("session %s: %w", key, err)
		}
		if _, dup := seen[key]; dup {
			return fmt.Errorf("session %s seen twice", key)
		}
		seen[key] = e
		return nil
	}
	if err := s.Scan(ctx, collect); err != nil || len(seen) != 0 {
		t.Fatalf("Scan of an empty store = %v, saw %v; want nothing", err, seen)
	}
	want := map[string]session.Entry[Value]{}
	for i, key := range []string{"a", "b", "c", "gone"} {
		rev, err := s.Create(ctx, key, Value{Count: i})
		if err != nil {
			t.Fatalf("Create(%s): %v", key, err)
		}
		want[key] = session.Entry[Value]{Value: Value{Count: i}, Revision: rev}
	}
	e, err := s.Update(ctx, "b", increment)
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	want["b"] = e
	if err := s.Delete(ctx, "gone"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	delete(want, "gone")
	if err := s.Scan(ctx, collect); err != nil {
		t.Fatalf("Scan: %v", err)
	}
	if len(seen) != len(want) {
		t.Fatalf("Scan saw %v, want %v", seen, want)
	}
	for key, w := range want {
		if seen[key] != w {
			t.Errorf("Scan saw %s as %+v, want %+v", key, seen[key], w)
		}
	}

	stop := errors.New("stop")
	calls := 0
	err = s.Scan(ctx, func(string, session.Entry[Value], error) error { calls++; return stop })
	if !errors.Is(err, stop) || calls != 1 {
		t.Fatalf("Scan with a failing function = %v after %d calls, want its error after 1", err, calls)
	}
}
