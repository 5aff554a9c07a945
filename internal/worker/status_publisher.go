package worker

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetflow-dev/jetflow/internal/breaker"
	"github.com/jetflow-dev/jetflow/internal/envconfig"
	"github.com/jetflow-dev/jetflow/streams"
)

// DefaultStatusInterval is how often a replica puts its status entry when nothing changes. With
// the bucket's TTL (streams.StatusTTL, three times this) a live replica has to miss three puts
// in a row before its entry expires.
const DefaultStatusInterval = 5 * time.Second

const (
	// statusCheckEvery is how often the publisher reads its breakers (in memory, a few locks) to
	// put a change at once: a breaker does not say when it moves, so the publisher looks.
	statusCheckEvery = 250 * time.Millisecond
	// statusPutTimeout bounds one put, and the delete at shutdown.
	statusPutTimeout = 2 * time.Second
)

// StatusConfig configures a StatusPublisher.
type StatusConfig struct {
	// Worker is the worker's name, the first token of its key. Required.
	Worker string
	// Replica tells this process apart from the worker's other replicas; empty means the host
	// name (in Kubernetes, the pod name) and a random suffix.
	Replica string
	// Interval is how often the entry is put when nothing changes; 0 means
	// DefaultStatusInterval. Keep it at most a third of streams.StatusTTL.
	Interval time.Duration
	// Log receives the publisher's warnings; nil discards them.
	Log *slog.Logger
}

// statusConfigFromEnv reads STATUS_INTERVAL for worker.
func statusConfigFromEnv(r *envconfig.Reader, worker string) StatusConfig {
	return StatusConfig{
		Worker:   worker,
		Interval: r.Duration("STATUS_INTERVAL", DefaultStatusInterval, 100*time.Millisecond, streams.StatusTTL/3),
	}
}

// StatusPublisher is the Runner that keeps this replica's entry in streams.BucketStatus: the
// process's stages and the state of each of their breakers, put at once when a breaker changes
// and every Interval otherwise. It deletes the entry when it stops; if the process dies first,
// the bucket's TTL removes it. Publishing is best effort: a put that fails (the bucket not
// created yet, the server away) is logged and tried again, and never stops the process.
type StatusPublisher struct {
	cfg    StatusConfig
	key    string
	kv     *Lazy[jetstream.KeyValue]
	stages []publishedStage
	log    *slog.Logger
	// putTried is set once a put reached the server; only Run's goroutine touches it.
	putTried bool
}

type publishedStage struct {
	name, stream string
	breakers     *breaker.Set
}

// NewStatusPublisher returns the publisher of the stages specs describe (their Consumer and
// Breakers; a consumer streams/ does not define is published without a stream).
func NewStatusPublisher(kv jetstream.KeyValueManager, cfg StatusConfig, specs ...StageSpec) *StatusPublisher {
	if cfg.Replica == "" {
		cfg.Replica = newReplicaID()
	}
	cfg.Replica = keyToken(cfg.Replica)
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultStatusInterval
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	p := &StatusPublisher{
		cfg: cfg,
		key: streams.StatusKey(keyToken(cfg.Worker), cfg.Replica),
		kv:  LazyBucket(kv, streams.BucketStatus),
		log: log.With("bucket", streams.BucketStatus),
	}
	defs, _ := definitions() // a stage could not have been built without them
	for _, spec := range specs {
		st := publishedStage{name: spec.Consumer, breakers: spec.Breakers}
		if defs != nil {
			st.stream, _, _ = defs.Consumer(spec.Consumer)
		}
		p.stages = append(p.stages, st)
	}
	return p
}

// statusPublisher is the publisher of every stage Stages built, with the process's logger.
func (e *Env) statusPublisher(cfg StatusConfig) *StatusPublisher {
	cfg.Log = e.Log
	return NewStatusPublisher(e.JS, cfg, e.statusStages...)
}

// Name implements Runner.
func (p *StatusPublisher) Name() string { return "status publisher" }

// Key is the publisher's key in streams.BucketStatus.
func (p *StatusPublisher) Key() string { return p.key }

// Run puts the entry until ctx ends, then deletes it. It returns nil: status is not a reason to
// stop the process.
func (p *StatusPublisher) Run(ctx context.Context) error {
	ticker := time.NewTicker(min(statusCheckEvery, p.cfg.Interval))
	defer ticker.Stop()
	var (
		published []StageStatus
		lastTry   time.Time
		failing   bool
	)
	for {
		now := time.Now()
		stages := p.read()
		// A failed put is tried again after Interval, not on every check: a missing bucket
		// would otherwise be asked for four times a second.
		changed := !failing && !sameStates(stages, published)
		if lastTry.IsZero() || changed || now.Sub(lastTry) >= p.cfg.Interval {
			lastTry = now
			err := p.put(ctx, Status{
				Worker: p.cfg.Worker, Replica: p.cfg.Replica, Stages: stages,
				IntervalMS: p.cfg.Interval.Milliseconds(), UpdatedAt: now.UTC(),
			})
			switch {
			case err != nil && ctx.Err() == nil && !failing:
				p.log.Warn("publishing status, will try again", "key", p.key, "every", p.cfg.Interval, "error", err)
				failing = true
			case err == nil:
				if failing {
					p.log.Info("publishing status again", "key", p.key)
				}
				published, failing = stages, false
			}
		}
		select {
		case <-ctx.Done():
			if p.putTried {
				// Also after a put that failed: it may have been stored, with only its ack
				// lost to the cancellation.
				p.remove(context.WithoutCancel(ctx))
			}
			return nil
		case <-ticker.C:
		}
	}
}

// read takes the status of every stage now.
func (p *StatusPublisher) read() []StageStatus {
	out := make([]StageStatus, 0, len(p.stages))
	for _, s := range p.stages {
		out = append(out, stageStatus(s.name, s.stream, s.breakers))
	}
	return out
}

func (p *StatusPublisher) put(ctx context.Context, st Status) error {
	ctx, cancel := context.WithTimeout(ctx, statusPutTimeout)
	defer cancel()
	kv, err := p.kv.Get(ctx)
	if err != nil {
		return err
	}
	data, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("encoding status: %w", err)
	}
	p.putTried = true
	if _, err := kv.Put(ctx, p.key, data); err != nil {
		return fmt.Errorf("putting key %s: %w", p.key, err)
	}
	return nil
}

// remove deletes the entry, so that `jetflow status` stops counting the replica at once rather
// than when the TTL expires it.
func (p *StatusPublisher) remove(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, statusPutTimeout)
	defer cancel()
	kv, err := p.kv.Get(ctx) // opened by the put
	if err == nil {
		err = kv.Delete(ctx, p.key)
	}
	if err != nil {
		p.log.Warn("deleting status at shutdown; it expires on its own", "key", p.key, "after", streams.StatusTTL, "error", err)
	}
}

// newReplicaID is the host name with a random suffix: pods of a Deployment have distinct host
// names, processes on one host (tests, `jetflow dev`) distinct suffixes.
func newReplicaID() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "unknown"
	}
	return fmt.Sprintf("%s-%06x", host, rand.Uint32()&0xffffff)
}

// keyToken makes s one token of a KV key: anything but letters, digits, '-' and '_' (a dot of
// a fully qualified host name, say) becomes '_'.
func keyToken(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_':
			return r
		}
		return '_'
	}, s)
}
