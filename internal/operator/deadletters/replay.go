package deadletters

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetflow-dev/jetflow/internal/stage"
	"github.com/jetflow-dev/jetflow/streams"
)

// HeaderReplayedFrom names, on a replayed message, the dead letter it was published from:
// "AI_DLQ:<seq>". The runtime keeps it as one of the message's own headers, so if the replay
// fails again its new dead letter names the letter it came from.
const HeaderReplayedFrom = "Jetflow-Replayed-From"

// keptJetflowHeaders are the Jetflow-* headers that describe the payload itself and go with it
// into a replay; every other Jetflow-* header is the runtime's bookkeeping (attempts, requeue
// origin) or the dead letter's, and would make the copy start with its retries spent or the
// old identity its outputs derive from.
var keptJetflowHeaders = []string{stage.HeaderType, stage.HeaderRequestID}

// ReplayMessage is the copy of l that a replay publishes: its payload, its original headers
// (Content-Type, Jetflow-Type, Jetflow-Request-Id, traceparent and its publisher's own)
// without the runtime's and the server's (Jetflow-*, Nats-*), a Nats-Msg-Id of its own and
// HeaderReplayedFrom.
func ReplayMessage(l Letter, generation int) *nats.Msg {
	h := nats.Header{}
	for k, vs := range l.Header {
		lower := strings.ToLower(k)
		if strings.HasPrefix(lower, "nats-") {
			continue
		}
		if strings.HasPrefix(lower, "jetflow-") && !kept(k) {
			continue
		}
		h[k] = append([]string(nil), vs...)
	}
	h.Set(HeaderReplayedFrom, l.Ref())
	h.Set(jetstream.MsgIDHeader, ReplayMsgID(l.Seq, generation))
	return &nats.Msg{Subject: l.OriginalSubject, Header: h, Data: l.Data}
}

func kept(header string) bool {
	for _, k := range keptJetflowHeaders {
		if strings.EqualFold(k, header) {
			return true
		}
	}
	return false
}

// ReplayMsgID is deterministic per letter and generation, so that publishing the same replay
// again after an interruption is dropped by the server as a duplicate.
func ReplayMsgID(seq uint64, generation int) string {
	return "replay:" + streams.StreamDeadLetter + ":" + strconv.FormatUint(seq, 10) + ":" + strconv.Itoa(generation)
}

// RerunMargin is the part of the duplicate window a resumed publish does not count on, for the
// clock difference between this machine and the server.
const RerunMargin = 4

// FinishTimeout bounds the publish and record of a letter once its publish began, even when
// the caller's context ends: finishing it leaves a clean record instead of an unconfirmed one.
const FinishTimeout = 10 * time.Second

// ErrAlreadyReplayed is Decide's answer for a letter replayed before, without Again.
var ErrAlreadyReplayed = errors.New("replayed before: replay it again only on purpose (jetflow dlq replay --again)")

// Replayer decides and performs safe replays. Known holds the records read before (Records.All);
// Decide reads it, Publish writes through Records.
type Replayer struct {
	JS      jetstream.JetStream
	Records *Records
	Known   map[uint64]Entry
	// Again replays letters replayed before once more (the next generation).
	Again bool
	// Now is the clock; nil = time.Now.
	Now func() time.Time
	// AfterPublish, when set, runs between a publish and its record (tests stand a crash there).
	AfterPublish func(Letter) error

	windows map[string]time.Duration // duplicate window by target subject
}

// Job is one letter to publish, as Decide chose.
type Job struct {
	Letter     Letter
	Generation int
	prevRev    uint64
	// resumedAt is when an unconfirmed replay of the same generation began, zero for a new one.
	resumedAt time.Time
}

func (r *Replayer) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// Decide says which generation to publish for l, and the revision its record must still have.
// A letter replayed before is ErrAlreadyReplayed unless Again.
func (r *Replayer) Decide(ctx context.Context, l Letter) (Job, error) {
	switch {
	case l.OriginalSubject == "":
		return Job{}, fmt.Errorf("it has no %s header, so where it came from is unknown: it cannot be replayed", stage.HeaderOriginalSubject)
	case l.Truncated:
		return Job{}, fmt.Errorf("its payload was cut to fit the server's max payload (%s): it cannot be replayed", stage.HeaderPayloadTruncated)
	}
	e, ok := ForLetter(r.Known, l)
	if !ok {
		if other, found := r.Known[l.Seq]; found {
			return Job{Letter: l, Generation: 1, prevRev: other.Revision}, nil // a record of an older letter with this sequence
		}
		return Job{Letter: l, Generation: 1}, nil
	}
	if e.State == StateReplayed {
		if !r.Again {
			return Job{}, ErrAlreadyReplayed
		}
		return Job{Letter: l, Generation: e.Generation + 1, prevRev: e.Revision}, nil
	}
	// A replay began and was not confirmed: the run stopped between the publish and its record.
	window, err := r.duplicateWindow(ctx, e.Subject)
	if err != nil {
		return Job{}, err
	}
	if since := r.now().Sub(e.At); since < window-window/RerunMargin {
		// The same id, which the server drops if the first publish landed. The record keeps the
		// first attempt's time: the window runs from that publish, not from this one.
		return Job{Letter: l, Generation: e.Generation, prevRev: e.Revision, resumedAt: e.At}, nil
	}
	if r.Again {
		return Job{Letter: l, Generation: e.Generation + 1, prevRev: e.Revision}, nil
	}
	return Job{}, fmt.Errorf("a replay as %s began at %s and was not confirmed, longer ago than the duplicate window of %s (%v): "+
		"it may have run. Check (jetflow dlq show %d), then pass --again to replay it anyway, or purge it",
		e.MsgID, e.At.UTC().Format(time.RFC3339), e.Subject, window, l.Seq)
}

// duplicateWindow is the duplicate window of the stream that stores subject.
func (r *Replayer) duplicateWindow(ctx context.Context, subject string) (time.Duration, error) {
	if w, ok := r.windows[subject]; ok {
		return w, nil
	}
	name, err := r.JS.StreamNameBySubject(ctx, subject)
	if err != nil {
		return 0, fmt.Errorf("finding the stream of %s: %w", subject, err)
	}
	s, err := r.JS.Stream(ctx, name)
	if err != nil {
		return 0, fmt.Errorf("reading stream %s: %w", name, err)
	}
	w := s.CachedInfo().Config.Duplicates
	if r.windows == nil {
		r.windows = map[string]time.Duration{}
	}
	r.windows[subject] = w
	return w, nil
}

// Publish records the intent, publishes the copy, waits for its ack and records the result,
// which it returns. Once begun it finishes within FinishTimeout even if ctx ends. The dead
// letter stays in AI_DLQ.
func (r *Replayer) Publish(ctx context.Context, j Job) (Record, error) {
	l := j.Letter
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), FinishTimeout)
	defer cancel()
	full := l
	if len(l.Data) != l.Size { // read headers only (Read): fetch the payload
		var err error
		if full, err = Get(ctx, r.JS, l.Seq); err != nil {
			return Record{}, err
		}
	}
	msg := ReplayMessage(full, j.Generation)
	rec := Record{
		Letter: l.ID(), Generation: j.Generation, State: StatePublishing,
		MsgID: msg.Header.Get(jetstream.MsgIDHeader), Subject: msg.Subject, At: r.now().UTC(),
	}
	if !j.resumedAt.IsZero() {
		rec.At = j.resumedAt
	}
	rev, err := r.Records.Put(ctx, l.Seq, j.prevRev, rec)
	if err != nil {
		return rec, err
	}
	ack, err := r.JS.PublishMsg(ctx, msg)
	if err != nil {
		return rec, fmt.Errorf("publishing it to %s as %s (its record says unconfirmed; run replay again to retry it): %w", msg.Subject, rec.MsgID, err)
	}
	if r.AfterPublish != nil {
		if err := r.AfterPublish(l); err != nil {
			return rec, err
		}
	}
	rec.State, rec.Stream, rec.Seq, rec.Duplicate = StateReplayed, ack.Stream, ack.Sequence, ack.Duplicate
	if _, err := r.Records.Put(ctx, l.Seq, rev, rec); err != nil {
		return rec, fmt.Errorf("it was published as %s, but %w (run replay again to record it; the server drops the copy)", rec.MsgID, err)
	}
	return rec, nil
}
