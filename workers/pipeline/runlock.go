package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetflow-dev/jetflow/internal/failure"
	"github.com/jetflow-dev/jetflow/streams"
)

// RunsBucket is the KV bucket of KFP run-name locks (streams/kv/pipeline-runs.json).
const RunsBucket = streams.BucketPipelineRuns

// runLockPoll is how often a replica that lost the claim on a run name looks for the winner's
// run id.
const runLockPoll = 100 * time.Millisecond

// runLockEntry is the value under a run name in RunsBucket: the request the name was claimed
// for and, once the claimant created it, the KFP run's id.
type runLockEntry struct {
	RequestID string `json:"request_id"`
	RunID     string `json:"run_id,omitempty"`
}

// runLocks make creating a KFP run atomic across replicas. KFP has no unique run names, so
// listing runs by name and then creating one races when two replicas handle one trigger at
// once; a KV create does not: the replica whose create of the run name's key succeeds creates
// the run and records its id under the key, and the others wait for that id and adopt the run.
type runLocks struct {
	kv jetstream.KeyValue
	// lease is how long a claim without a run id holds. Past it the claimant is taken for dead
	// (a create takes at most one call timeout), and another replica looks the run up in KFP,
	// adopting it if the claimant created it before dying, or takes the claim over.
	lease time.Duration
	log   *slog.Logger
}

// runClaim is a won claim on a run name, at the key's revision.
type runClaim struct {
	locks *runLocks
	key   string
	entry runLockEntry
	rev   uint64
}

// claimRun claims r's run name before the create, or, when another replica holds the claim,
// adopts the run it created (claim nil).
func (k *kfpBackend) claimRun(ctx context.Context, r *Run) (*runClaim, observation, error) {
	lookup := func(ctx context.Context) (*kfpRun, error) {
		run, err := k.find(ctx, r)
		if err != nil || run == nil {
			return run, err
		}
		return run, kfpMadeFor(run, r)
	}
	claim, runID, err := k.locks.claim(ctx, r, lookup)
	if err != nil || claim != nil {
		return claim, observation{}, err
	}
	obs, err := k.observe(ctx, r, runID)
	if err != nil {
		return nil, observation{}, fmt.Errorf("adopting run %s, created by another replica: %w", runID, err)
	}
	obs.adopted = true
	return nil, obs, nil
}

// kfpMadeFor refuses a run the bridge did not make for r's request (its description says so), as
// kfpBackend.start does before adopting a run it listed.
func kfpMadeFor(run *kfpRun, r *Run) error {
	want := "jetflow request-id=" + r.RequestID
	if d := run.Description; d != "" && d != want && !strings.HasPrefix(d, want+" ") {
		return failure.Permanent(fmt.Errorf("%w: KFP run %s named %s has description %q, not one for request %q",
			ErrNameCollision, run.RunID, r.Name, truncate(d, 128), r.RequestID))
	}
	return nil
}

// claim makes this replica the one that creates r's run (a claim), or returns the id of the run
// another replica created for it. lookup finds r's run in KFP, for a claim whose lease ran out.
func (l *runLocks) claim(ctx context.Context, r *Run, lookup func(context.Context) (*kfpRun, error)) (*runClaim, string, error) {
	mine := runLockEntry{RequestID: r.RequestID}
	value, err := json.Marshal(mine)
	if err != nil {
		return nil, "", failure.Permanent(fmt.Errorf("encoding the run lock of %s: %w", r.Name, err))
	}
	for {
		rev, err := l.kv.Create(ctx, r.Name, value)
		if err == nil {
			return &runClaim{locks: l, key: r.Name, entry: mine, rev: rev}, "", nil
		}
		if !lostRace(err) {
			return nil, "", fmt.Errorf("claiming run name %s in %s: %w", r.Name, RunsBucket, err)
		}
		e, err := l.kv.Get(ctx, r.Name)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue // released since: claim it again
		}
		if err != nil {
			return nil, "", fmt.Errorf("reading the claim on run name %s: %w", r.Name, err)
		}
		var held runLockEntry
		if err := json.Unmarshal(e.Value(), &held); err != nil {
			return nil, "", failure.Permanent(fmt.Errorf("decoding the claim on run name %s in %s: %w", r.Name, RunsBucket, err))
		}
		switch {
		case held.RequestID != r.RequestID:
			return nil, "", failure.Permanent(fmt.Errorf("%w: run name %s is claimed in %s for request %q, not %q",
				ErrNameCollision, r.Name, RunsBucket, truncate(held.RequestID, 128), r.RequestID))
		case held.RunID != "":
			return nil, held.RunID, nil
		}
		if age := time.Since(e.Created()); age < l.lease {
			if err := sleep(ctx, min(runLockPoll, l.lease-age)); err != nil {
				return nil, "", fmt.Errorf("waiting for the run another replica creates as %s: %w", r.Name, err)
			}
			continue
		}
		run, err := lookup(ctx)
		if err != nil {
			return nil, "", err
		}
		if run != nil {
			// The claimant created the run and died before recording it.
			(&runClaim{locks: l, key: r.Name, entry: mine, rev: e.Revision()}).created(ctx, run.RunID)
			return nil, run.RunID, nil
		}
		rev, err = l.kv.Update(ctx, r.Name, value, e.Revision())
		if err == nil {
			l.log.Warn("took over a stale claim on a run name", "run", r.Name, "age", time.Since(e.Created()))
			return &runClaim{locks: l, key: r.Name, entry: mine, rev: rev}, "", nil
		}
		if !lostRace(err) {
			return nil, "", fmt.Errorf("taking over the claim on run name %s: %w", r.Name, err)
		}
		// Another replica took it over or recorded the run first: look again.
	}
}

// created records the run's id under the claim, for the replicas waiting on it. If that
// fails, they find the run by its name once the lease is over.
func (c *runClaim) created(ctx context.Context, runID string) {
	c.entry.RunID = runID
	value, err := json.Marshal(c.entry)
	if err == nil {
		wctx, cancel := settleContext(ctx)
		defer cancel()
		_, err = c.locks.kv.Update(wctx, c.key, value, c.rev)
	}
	if err != nil {
		c.locks.log.Warn("recording the run id under its name; other replicas find it by listing", "run", c.key, "run_id", runID, "error", err)
	}
}

// failed gives the claim up after the create failed with err, when the run surely does not
// exist (KFP refused it, or the breaker kept the call from being made), so that a retry or a
// replayed trigger need not wait for the lease. After any other failure the run may exist (the
// answer was lost): the claim stays, and whoever comes next looks the run up once it expires.
func (c *runClaim) failed(ctx context.Context, err error) {
	if !failure.IsPermanent(err) && !failure.WasNotAttempted(err) {
		return
	}
	wctx, cancel := settleContext(ctx)
	defer cancel()
	if derr := c.locks.kv.Delete(wctx, c.key, jetstream.LastRevision(c.rev)); derr != nil {
		c.locks.log.Warn("releasing the claim on a run name after a refused create", "run", c.key, "error", derr)
	}
}

// settleContext bounds a write to the claim that must happen even when the handler's context
// ended (the run exists, or surely does not, either way).
func settleContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// lostRace reports whether a KV create or update failed because the key was written first.
// nats.go maps the server's "wrong last sequence" codes to ErrKeyExists or
// ErrKeyRevisionMismatch, except on kv.Create's path over a delete marker, which returns the
// API error itself (as internal/session's isConflict explains).
func lostRace(err error) bool {
	if errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		return true
	}
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)
}
