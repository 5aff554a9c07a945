package session_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"

	"github.com/jetflow-dev/jetflow/internal/devkit/jstest"
	"github.com/jetflow-dev/jetflow/internal/devkit/testplatform"
	"github.com/jetflow-dev/jetflow/internal/failure"
	"github.com/jetflow-dev/jetflow/internal/session"
	"github.com/jetflow-dev/jetflow/internal/session/sessiontest"
	"github.com/jetflow-dev/jetflow/streams"
)

// TestContract runs the shared contract against the JetStream store, with every handle on its
// own connection to one server, as replicas would be.
func TestContract(t *testing.T) {
	srv := jstest.Server(t)
	var n atomic.Int64
	sessiontest.Run(t, func(t *testing.T, cfg sessiontest.Config) []sessiontest.Store {
		bucket := fmt.Sprintf("contract-%d", n.Add(1))
		_, js := jstest.Connect(t, srv)
		if _, err := js.CreateKeyValue(jstest.Context(t), jetstream.KeyValueConfig{
			Bucket: bucket, History: 5, TTL: cfg.TTL, MaxValueSize: int32(cfg.MaxValueSize + 1024),
		}); err != nil {
			t.Fatalf("creating bucket: %v", err)
		}
		stores := make([]sessiontest.Store, cfg.Handles)
		for i := range stores {
			_, js := jstest.Connect(t, srv)
			s, err := session.Open[sessiontest.Value](jstest.Context(t), js, bucket,
				session.WithMaxValueSize(cfg.MaxValueSize),
				session.WithMaxAttempts(cfg.MaxAttempts),
				session.OnConflict(cfg.OnConflict))
			if err != nil {
				t.Fatalf("opening store: %v", err)
			}
			stores[i] = s
		}
		return stores
	})
}

type sttState struct {
	Next int64 `json:"next"`
}

func newBucket(t *testing.T, cfg jetstream.KeyValueConfig) (jetstream.JetStream, jetstream.KeyValue) {
	t.Helper()
	_, js := jstest.Connect(t, jstest.Server(t))
	kv, err := js.CreateKeyValue(jstest.Context(t), cfg)
	if err != nil {
		t.Fatalf("creating bucket %s: %v", cfg.Bucket, err)
	}
	return js, kv
}

// TestOpenDefinedBuckets opens the buckets defined in streams/kv/, applied as in production.
func TestOpenDefinedBuckets(t *testing.T) {
	p := testplatform.New(t)
	js, ctx := p.JS, p.Ctx
	set, err := streams.Load()
	if err != nil {
		t.Fatalf("loading definitions: %v", err)
	}
	for _, bucket := range []string{streams.BucketSTTSessions, streams.BucketVoiceSessions} {
		t.Run(bucket, func(t *testing.T) {
			cfg, ok := set.Bucket(bucket)
			if !ok {
				t.Fatalf("bucket %s is not defined", bucket)
			}
			if cfg.TTL <= 0 || cfg.History > 10 || cfg.LimitMarkerTTL != 0 {
				t.Errorf("definition ttl %v history %d limit_marker_ttl %v: want a bucket TTL, small history, no per-key TTL",
					cfg.TTL, cfg.History, cfg.LimitMarkerTTL)
			}
			s, err := session.Open[sttState](ctx, js, bucket)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			if got, want := s.MaxValueSize(), int(cfg.MaxValueSize)-256; got != want {
				t.Errorf("MaxValueSize = %d, want the bucket's %d less the header allowance: %d", got, cfg.MaxValueSize, want)
			}
			// The largest value the store accepts is also accepted by the server.
			pad := strings.Repeat("x", s.MaxValueSize()-len(`{"next":0}`)-len(`,"pad":""`))
			type padded struct {
				Next int64  `json:"next"`
				Pad  string `json:"pad"`
			}
			big, err := session.Open[padded](ctx, js, bucket)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			if _, err := big.Create(ctx, "largest", padded{Pad: pad}); err != nil {
				t.Fatalf("Create of a value of exactly the limit: %v", err)
			}
			if _, err := big.Update(ctx, "largest", func(cur *padded, _ bool) (padded, error) { cur.Next = 1; return *cur, nil }); err != nil {
				t.Fatalf("Update of a value of exactly the limit: %v", err)
			}
		})
	}
}

func TestOpenRefusesBadBuckets(t *testing.T) {
	ctx := jstest.Context(t)
	_, js := jstest.Connect(t, jstest.Server(t))
	if _, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "forever"}); err != nil {
		t.Fatalf("creating bucket: %v", err)
	}
	if _, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "tiny", TTL: time.Hour, MaxValueSize: 100}); err != nil {
		t.Fatalf("creating bucket: %v", err)
	}
	tests := []struct {
		name   string
		bucket string
		want   error
	}{
		{name: "no ttl", bucket: "forever", want: session.ErrInvalidBucket},
		{name: "no room for a value", bucket: "tiny", want: session.ErrInvalidBucket},
		{name: "missing", bucket: "absent", want: jetstream.ErrBucketNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := session.Open[sttState](ctx, js, tt.bucket); !errors.Is(err, tt.want) {
				t.Fatalf("Open(%s) = %v, want %v", tt.bucket, err, tt.want)
			}
		})
	}
}

func TestOptionsValidated(t *testing.T) {
	_, kv := newBucket(t, jetstream.KeyValueConfig{Bucket: "opts", TTL: time.Hour})
	tests := []struct {
		name string
		opt  session.Option
	}{
		{name: "zero value size", opt: session.WithMaxValueSize(0)},
		{name: "zero attempts", opt: session.WithMaxAttempts(0)},
		{name: "zero backoff", opt: session.WithBackoff(0, time.Second)},
		{name: "max below base", opt: session.WithBackoff(time.Second, time.Millisecond)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := session.New[sttState](kv, tt.opt); !errors.Is(err, session.ErrInvalidOption) {
				t.Fatalf("New = %v, want ErrInvalidOption", err)
			}
		})
	}
	if _, err := session.New[sttState](nil); !errors.Is(err, session.ErrInvalidOption) {
		t.Fatalf("New(nil) = %v, want ErrInvalidOption", err)
	}
}

// TestErrorsForTheRuntime checks what the stage runtime relies on: JetStream's sentinels stay
// reachable, and input that can never succeed is marked permanent while contention is not.
func TestErrorsForTheRuntime(t *testing.T) {
	ctx := jstest.Context(t)
	_, kv := newBucket(t, jetstream.KeyValueConfig{Bucket: "errs", TTL: time.Hour})
	s, err := session.New[sttState](kv, session.WithMaxValueSize(16), session.WithMaxAttempts(1))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	_, err = s.Get(ctx, "missing")
	if !errors.Is(err, jetstream.ErrKeyNotFound) || failure.IsPermanent(err) {
		t.Errorf("Get(missing) = %v, want retryable jetstream.ErrKeyNotFound", err)
	}
	if _, err := s.Create(ctx, "k", sttState{}); err != nil {
		t.Fatalf("Create: %v", err)
	}
	_, err = s.Create(ctx, "k", sttState{})
	if !errors.Is(err, jetstream.ErrKeyExists) {
		t.Errorf("Create twice = %v, want it to match jetstream.ErrKeyExists too", err)
	}
	if _, err := s.Get(ctx, "a b"); !failure.IsPermanent(err) {
		t.Errorf("Get(invalid key) = %v, want permanent", err)
	}
	if _, err := s.Create(ctx, "big", sttState{Next: 1 << 60}); !failure.IsPermanent(err) || !errors.Is(err, session.ErrTooLarge) {
		t.Errorf("Create(too large) = %v, want permanent ErrTooLarge", err)
	}
	if _, err := kv.Put(ctx, "corrupt", []byte("{not json")); err != nil {
		t.Fatalf("Put: %v", err)
	}
	_, err = s.Get(ctx, "corrupt")
	if !errors.Is(err, session.ErrCorrupt) || !failure.IsPermanent(err) {
		t.Errorf("Get(corrupt) = %v, want permanent ErrCorrupt", err)
	}
	_, err = s.Update(ctx, "k", func(cur *sttState, _ bool) (sttState, error) {
		if _, err := kv.Put(ctx, "k", []byte(`{"next":5}`)); err != nil {
			return sttState{}, err
		}
		cur.Next++
		return *cur, nil
	})
	if !errors.Is(err, session.ErrConflict) || !errors.Is(err, jetstream.ErrKeyRevisionMismatch) || failure.IsPermanent(err) {
		t.Errorf("Update losing its only attempt = %v, want retryable ErrConflict wrapping ErrKeyRevisionMismatch", err)
	}
}

// TestUpdateRecreatesAfterExpiry: once the bucket TTL removed a session, Update starts it
// afresh rather than failing on the vanished revision.
func TestUpdateRecreatesAfterExpiry(t *testing.T) {
	ctx := jstest.Context(t)
	_, kv := newBucket(t, jetstream.KeyValueConfig{Bucket: "expiry", TTL: time.Second})
	s, err := session.New[sttState](kv)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if _, err := s.Create(ctx, "k", sttState{Next: 9}); err != nil {
		t.Fatalf("Create: %v", err)
	}
	jstest.Eventually(t, 10*time.Second, 50*time.Millisecond, func() error {
		_, err := s.Get(ctx, "k")
		if errors.Is(err, session.ErrNotFound) {
			return nil
		}
		return fmt.Errorf("still present: %v", err)
	})
	e, err := s.Update(ctx, "k", func(cur *sttState, exists bool) (sttState, error) {
		if exists {
			return sttState{}, errors.New("expired key reported as existing")
		}
		return sttState{Next: 1}, nil
	})
	if err != nil || e.Value.Next != 1 {
		t.Fatalf("Update after expiry = %+v, %v; want a fresh session", e, err)
	}
}

func TestCancelledContext(t *testing.T) {
	_, kv := newBucket(t, jetstream.KeyValueConfig{Bucket: "cancel", TTL: time.Hour})
	s, err := session.New[sttState](kv)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(jstest.Context(t))
	cancel()
	calls := 0
	_, err = s.Update(ctx, "k", func(cur *sttState, _ bool) (sttState, error) { calls++; return *cur, nil })
	if !errors.Is(err, context.Canceled) || calls != 0 {
		t.Fatalf("Update with a cancelled context = %v after %d calls, want context.Canceled and no call", err, calls)
	}
}

// TestScanReportsCorruptValues: a value written around the store reaches the scan function as
// ErrCorrupt, so the caller decides whether it stops the scan.
func TestScanReportsCorruptValues(t *testing.T) {
	ctx := jstest.Context(t)
	_, kv := newBucket(t, jetstream.KeyValueConfig{Bucket: "scan-corrupt", TTL: time.Hour})
	s, err := session.New[sttState](kv)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if _, err := s.Create(ctx, "good", sttState{Next: 3}); err != nil {
		t.Fatalf("Create: %v", err)
	}
	rev, err := kv.Put(ctx, "corrupt", []byte("{not json"))
	if err != nil {
		t.Fatalf("Put: %v", err)
	}
	got := map[string]error{}
	err = s.Scan(ctx, func(key string, e session.Entry[sttState], err error) error {
		got[key] = err
		switch {
		case key == "corrupt" && e.Revision != rev:
			return fmt.Errorf("corrupt entry at revision %d, want %d", e.Revision, rev)
		case key == "good" && e.Value.Next != 3:
			return fmt.Errorf("good entry %+v, want next 3", e)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("Scan: %v", err)
	}
	if len(got) != 2 || got["good"] != nil || !errors.Is(got["corrupt"], session.ErrCorrupt) {
		t.Fatalf("Scan saw %v; want good without error and corrupt with ErrCorrupt", got)
	}
}

// TestScanEndingEarlyLeavesNoGoroutine ends scans of a bucket holding more sessions than
// nats.go's watch channel takes (256) once that channel is full, by an error of the scan
// function and by the end of its context (a listing timeout): nats.go's delivery goroutine,
// blocked on the full channel, must not outlive the scan.
func TestScanEndingEarlyLeavesNoGoroutine(t *testing.T) {
	ctx := jstest.Context(t)
	_, kv := newBucket(t, jetstream.KeyValueConfig{Bucket: "scan-leak", TTL: time.Hour})
	s, err := session.New[sttState](kv)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	const sessions = 400
	for i := range sessions {
		if _, err := kv.Put(ctx, fmt.Sprintf("s%d", i), []byte(`{"next":1}`)); err != nil {
			t.Fatalf("Put: %v", err)
		}
	}
	// A full scan first, so that what the connection starts once (its response subscription)
	// exists before the goroutines are counted.
	n := 0
	if err := s.Scan(ctx, func(string, session.Entry[sttState], error) error { n++; return nil }); err != nil || n != sessions {
		t.Fatalf("full Scan = %v after %d sessions, want %d", err, n, sessions)
	}
	before := goleak.IgnoreCurrent()

	stop := errors.New("stop")
	err = s.Scan(ctx, func(string, session.Entry[sttState], error) error {
		waitWatchBlocked(t)
		return stop
	})
	if !errors.Is(err, stop) {
		t.Fatalf("Scan stopped by its function = %v, want its error", err)
	}
	scanCtx, cancel := context.WithCancel(ctx)
	err = s.Scan(scanCtx, func(string, session.Entry[sttState], error) error {
		if scanCtx.Err() == nil {
			waitWatchBlocked(t)
			cancel()
		}
		return nil
	})
	cancel()
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Scan whose context ended = %v, want context.Canceled", err)
	}
	goleak.VerifyNone(t, before)
}

// waitWatchBlocked waits until a nats.go watch callback is blocked sending on its full channel:
// the state in which a watch stopped without draining its channel leaks the goroutine.
func waitWatchBlocked(t *testing.T) {
	t.Helper()
	jstest.Eventually(t, 10*time.Second, 5*time.Millisecond, func() error {
		buf := make([]byte, 4<<20)
		buf = buf[:runtime.Stack(buf, true)]
		for _, g := range bytes.Split(buf, []byte("\n\n")) {
			if bytes.Contains(g, []byte("[chan send")) && bytes.Contains(g, []byte("jetstream.(*kvs).WatchFiltered")) {
				return nil
			}
		}
		return errors.New("no watch callback is blocked on its channel yet")
	})
}
