package deadletters

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetflow-dev/jetflow/streams"
)

// Record states.
const (
	// StatePublishing is written before the publish: a record left in it means the run stopped
	// before it knew whether the copy landed.
	StatePublishing = "publishing"
	// StateReplayed is written after the publish ack.
	StateReplayed = "replayed"
)

// Record is the value of a letter's key in the dlq-replays bucket.
type Record struct {
	// Letter is the letter's own Nats-Msg-Id (dlq:<stream>:<seq>): a record whose Letter differs
	// belongs to another letter that had the same AI_DLQ sequence, and is ignored.
	Letter string `json:"letter"`
	// Generation counts the replays of the letter: 1 for the first, one more for each --again.
	Generation int    `json:"generation"`
	State      string `json:"state"`
	// MsgID is the copy's Nats-Msg-Id, replay:AI_DLQ:<seq>:<generation>.
	MsgID   string    `json:"msg_id"`
	Subject string    `json:"subject"`
	At      time.Time `json:"at"`
	// Stream and Seq say where the copy was stored (from the publish ack); Duplicate is set when
	// the server had already stored it (a rerun after an interruption).
	Stream    string `json:"stream,omitempty"`
	Seq       uint64 `json:"seq,omitempty"`
	Duplicate bool   `json:"duplicate,omitempty"`
}

// Entry is a record with the revision an update must name.
type Entry struct {
	Record
	Revision uint64
}

// Records is the dlq-replays bucket.
type Records struct{ kv jetstream.KeyValue }

// OpenRecords opens the dlq-replays bucket, saying what to do when it is missing.
func OpenRecords(ctx context.Context, js jetstream.JetStream) (*Records, error) {
	kv, err := js.KeyValue(ctx, streams.BucketDLQReplays)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil, fmt.Errorf("KV bucket %s, where replays are recorded, does not exist on this server: create it with jetflow streams apply", streams.BucketDLQReplays)
	}
	if err != nil {
		return nil, fmt.Errorf("opening KV bucket %s: %w", streams.BucketDLQReplays, err)
	}
	return &Records{kv: kv}, nil
}

// All reads every record, by AI_DLQ sequence.
func (r *Records) All(ctx context.Context) (map[uint64]Entry, error) {
	w, err := r.kv.WatchAll(ctx, jetstream.IgnoreDeletes())
	if err != nil {
		return nil, fmt.Errorf("reading KV bucket %s: %w", streams.BucketDLQReplays, err)
	}
	defer func() { _ = w.Stop() }()
	out := map[uint64]Entry{}
	for {
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("reading KV bucket %s: %w", streams.BucketDLQReplays, ctx.Err())
		case e, ok := <-w.Updates():
			if !ok {
				return nil, fmt.Errorf("reading KV bucket %s: the watch ended", streams.BucketDLQReplays)
			}
			if e == nil {
				return out, nil // every current value has been delivered
			}
			seq, err := strconv.ParseUint(e.Key(), 10, 64)
			if err != nil {
				continue // not a key this command writes
			}
			var rec Record
			if err := json.Unmarshal(e.Value(), &rec); err != nil {
				continue
			}
			out[seq] = Entry{Record: rec, Revision: e.Revision()}
		}
	}
}

// Get reads l's record; nil when it has none.
func (r *Records) Get(ctx context.Context, l Letter) (*Record, error) {
	e, err := r.kv.Get(ctx, seqKey(l.Seq))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the replay record of letter %d: %w", l.Seq, err)
	}
	var rec Record
	if err := json.Unmarshal(e.Value(), &rec); err != nil || rec.Letter != l.ID() {
		return nil, nil //nolint:nilerr // a value this command did not write, or another letter's: no record
	}
	return &rec, nil
}

// ForLetter is l's record, if it has one.
func ForLetter(all map[uint64]Entry, l Letter) (Entry, bool) {
	e, ok := all[l.Seq]
	if !ok || e.Letter != l.ID() {
		return Entry{}, false
	}
	return e, true
}

// Put writes rec for seq over the revision the caller read (0: the key had no record of this
// letter), so that two replays of the same letter at once cannot both go ahead. It returns the
// new revision.
func (r *Records) Put(ctx context.Context, seq uint64, prev uint64, rec Record) (uint64, error) {
	b, err := json.Marshal(rec)
	if err != nil {
		return 0, fmt.Errorf("encoding the replay record of letter %d: %w", seq, err)
	}
	var rev uint64
	if prev == 0 {
		rev, err = r.kv.Create(ctx, seqKey(seq), b)
		if errors.Is(err, jetstream.ErrKeyExists) {
			// A record of an older letter with this sequence: replace it.
			if e, gerr := r.kv.Get(ctx, seqKey(seq)); gerr == nil {
				var old Record
				if json.Unmarshal(e.Value(), &old) == nil && old.Letter != rec.Letter {
					rev, err = r.kv.Update(ctx, seqKey(seq), b, e.Revision())
				}
			}
		}
	} else {
		rev, err = r.kv.Update(ctx, seqKey(seq), b, prev)
	}
	if errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		return 0, fmt.Errorf("recording the replay of letter %d: %w", seq, ErrConcurrentReplay)
	}
	if err != nil {
		return 0, fmt.Errorf("recording the replay of letter %d: %w", seq, err)
	}
	return rev, nil
}

// ErrConcurrentReplay: the record changed between reading and writing it.
var ErrConcurrentReplay = errors.New("its record changed meanwhile: another jetflow dlq replay or purge is running")

// Remove deletes seq's record and its history.
func (r *Records) Remove(ctx context.Context, seq uint64) error {
	if err := r.kv.Purge(ctx, seqKey(seq)); err != nil {
		return fmt.Errorf("removing the replay record of letter %d: %w", seq, err)
	}
	return nil
}
