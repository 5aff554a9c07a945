package stagestatus

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetflow-dev/jetflow/internal/worker"
	"github.com/jetflow-dev/jetflow/streams"
)

// Collector reads a Report from the server.
type Collector struct {
	JS  jetstream.JetStream
	Set *streams.Set
	// Window is how recent the newest dead letter of a stage must be for its dead letters to
	// count as growing.
	Window time.Duration
}

// Collect reads the state of every stage as of now. An error means the platform could not be
// read (the server is away, the account has no AI_DLQ); what is wrong with the platform itself
// is in the Report's Problems.
func (c *Collector) Collect(ctx context.Context, now time.Time) (*Report, error) {
	r := &Report{Time: now.UTC(), Problems: []string{}, Stages: []StageReport{}, Replicas: []worker.Status{}}
	for _, d := range c.Set.Consumers() {
		name := d.Config.Durable
		s := StageReport{
			Stage: name, Stream: d.Stream, Consumer: name,
			DeadLetters: DeadLetters{Subject: streams.DeadLetterSubject(name)},
			Breakers:    []BreakerReport{},
		}
		if err := c.consumerState(ctx, &s); err != nil {
			return nil, err
		}
		r.Stages = append(r.Stages, s)
	}
	if err := c.deadLetters(ctx, r.Stages, now); err != nil {
		return nil, err
	}
	replicas, warnings, bucketMissing, err := c.replicas(ctx)
	if err != nil {
		return nil, err
	}
	r.Replicas, r.Warnings = replicas, warnings
	AddReplicas(r.Stages, replicas)
	r.Problems = append(r.Problems, r.ProblemsFor(c.Window, bucketMissing)...)
	r.Healthy = len(r.Problems) == 0
	return r, nil
}

// consumerState reads the consumer's counts; a consumer (or stream) the server does not have
// marks the stage Missing.
func (c *Collector) consumerState(ctx context.Context, s *StageReport) error {
	cons, err := c.JS.Consumer(ctx, s.Stream, s.Consumer)
	if errors.Is(err, jetstream.ErrConsumerNotFound) || errors.Is(err, jetstream.ErrStreamNotFound) {
		s.Missing = true
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading consumer %s on stream %s: %w", s.Consumer, s.Stream, err)
	}
	info := cons.CachedInfo()
	s.Pending, s.AckPending, s.Redelivered, s.Waiting = info.NumPending, info.NumAckPending, info.NumRedelivered, info.NumWaiting
	return nil
}

// deadLetters counts every stage's dead letters. The totals come from one stream info with a
// subject filter (the server keeps a count per subject). For the last hour the server keeps no
// count, so: a stage with none at all, or whose newest is older than an hour, has none; for the
// others a throwaway consumer filtered on the stage's subject and starting at now-1h is created,
// and its num_pending, which the server computes from its per-subject index without delivering
// anything, is the count. Only stages with recent dead letters cost more than the one request.
func (c *Collector) deadLetters(ctx context.Context, stages []StageReport, now time.Time) error {
	dlq, err := c.JS.Stream(ctx, streams.StreamDeadLetter)
	if err != nil {
		return fmt.Errorf("looking up stream %s (run `jetflow streams apply` if it is missing): %w", streams.StreamDeadLetter, err)
	}
	info, err := dlq.Info(ctx, jetstream.WithSubjectFilter(streams.SubjectDeadLetterAll))
	if err != nil {
		return fmt.Errorf("counting dead letters per subject in %s: %w", streams.StreamDeadLetter, err)
	}
	since := now.Add(-time.Hour)
	for i := range stages {
		d := &stages[i].DeadLetters
		d.Total = info.State.Subjects[d.Subject]
		if d.Total == 0 {
			continue
		}
		newest, err := dlq.GetLastMsgForSubject(ctx, d.Subject)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			d.Total = 0 // purged since the count
			continue
		}
		if err != nil {
			return fmt.Errorf("reading the newest dead letter on %s: %w", d.Subject, err)
		}
		t := newest.Time.UTC()
		d.Newest = &t
		if t.Before(since) {
			continue
		}
		if d.LastHour, err = c.countSince(ctx, d.Subject, since); err != nil {
			return err
		}
	}
	return nil
}

// countSince counts the dead letters on subject stored at or after since.
func (c *Collector) countSince(ctx context.Context, subject string, since time.Time) (uint64, error) {
	cons, err := c.JS.CreateConsumer(ctx, streams.StreamDeadLetter, jetstream.ConsumerConfig{
		Description:   "jetflow status: counts the dead letters of the last hour, then is deleted",
		FilterSubject: subject,
		DeliverPolicy: jetstream.DeliverByStartTimePolicy,
		OptStartTime:  &since,
		AckPolicy:     jetstream.AckNonePolicy,
		MemoryStorage: true,
		// Removes it should the delete below never arrive.
		InactiveThreshold: time.Minute,
	})
	if err != nil {
		return 0, fmt.Errorf("counting the dead letters of the last hour on %s: %w", subject, err)
	}
	info := cons.CachedInfo()
	// A failed delete only leaves the consumer to InactiveThreshold.
	_ = c.JS.DeleteConsumer(ctx, streams.StreamDeadLetter, info.Name)
	return info.NumPending, nil
}

// replicas reads every entry of the status bucket. Entries of replicas that stopped have been
// deleted by them or expired by the bucket's TTL, so what is there is fresh. An entry that does
// not decode is a warning, not an error: one odd worker must not hide the others.
func (c *Collector) replicas(ctx context.Context) (replicas []worker.Status, warnings []string, bucketMissing bool, err error) {
	replicas = []worker.Status{}
	kv, err := c.JS.KeyValue(ctx, streams.BucketStatus)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return replicas, nil, true, nil
	}
	if err != nil {
		return nil, nil, false, fmt.Errorf("opening bucket %s: %w", streams.BucketStatus, err)
	}
	w, err := kv.WatchAll(ctx, jetstream.IgnoreDeletes())
	if err != nil {
		return nil, nil, false, fmt.Errorf("reading bucket %s: %w", streams.BucketStatus, err)
	}
	defer func() { _ = w.Stop() }()
	for {
		select {
		case e := <-w.Updates():
			if e == nil { // every current value has been delivered
				slices.SortFunc(replicas, func(a, b worker.Status) int {
					return cmp.Or(cmp.Compare(a.Worker, b.Worker), cmp.Compare(a.Replica, b.Replica))
				})
				return replicas, warnings, false, nil
			}
			var st worker.Status
			if err := json.Unmarshal(e.Value(), &st); err != nil {
				warnings = append(warnings, fmt.Sprintf("status entry %s does not decode, ignored: %v", e.Key(), err))
				continue
			}
			replicas = append(replicas, st)
		case <-ctx.Done():
			return nil, nil, false, fmt.Errorf("reading bucket %s: %w", streams.BucketStatus, ctx.Err())
		}
	}
}
