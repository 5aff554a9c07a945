package dlq

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
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

// replayMessage is the copy of l that a replay publishes: its payload, its original headers
// (Content-Type, Jetflow-Type, Jetflow-Request-Id, traceparent and its publisher's own)
// without the runtime's and the server's (Jetflow-*, Nats-*), a Nats-Msg-Id of its own and
// HeaderReplayedFrom.
func replayMessage(l Letter, generation int) *nats.Msg {
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
	h.Set(jetstream.MsgIDHeader, replayMsgID(l.Seq, generation))
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

// replayMsgID is deterministic per letter and generation, so that publishing the same replay
// again after an interruption is dropped by the server as a duplicate.
func replayMsgID(seq uint64, generation int) string {
	return "replay:" + streams.StreamDeadLetter + ":" + strconv.FormatUint(seq, 10) + ":" + strconv.Itoa(generation)
}

const replayUsage = `jetflow dlq replay [selection] [--again] [--dry-run] [--rate N]: publish dead letters back to
their original subjects (Jetflow-Original-Subject), once each, in sequence order with up to
32 in flight.

Each copy is a fresh message: the original payload and headers (Content-Type, Jetflow-Type,
Jetflow-Request-Id, traceparent, tracestate and the publisher's own), without the runtime's
attempt and requeue headers (so it has its whole retry budget) and without the dead-letter
headers, with Jetflow-Replayed-From: AI_DLQ:<seq> and Nats-Msg-Id replay:AI_DLQ:<seq>:<generation>.

Every replay is recorded in the KV bucket dlq-replays (key: the letter's sequence): a letter
already replayed is skipped unless --again, which replays it once more (the next generation).
Interrupted (Ctrl-C, a crash)? Run the same command again: letters whose replay was recorded
are skipped, and a letter whose publish was not yet confirmed is published again under the same
Nats-Msg-Id, which the server drops if the first one had landed. That holds within the target
stream's duplicate window (jetflow streams set 30-45 minutes); a later rerun reports such letters as unconfirmed and
replays them only with --again.

Prints replayed, skipped and failed counts; exits 1 when a letter failed.

` + selectionHelp

// rerunMargin is the part of the duplicate window a resumed publish does not count on, for the
// clock difference between this machine and the server.
const rerunMargin = 4

func replay(ctx context.Context, args []string, env Env) error {
	c := newCommand("replay", replayUsage)
	var sf selectionFlags
	sf.register(c.fs, true)
	again := c.fs.Bool("again", false, "replay letters that were replayed before, once more (the next generation)")
	dryRun := c.fs.Bool("dry-run", false, "show what would be published and change nothing")
	rate := c.fs.Float64("rate", 0, "publish at most N messages per second (0: as fast as the server acks)")
	words, err := c.parse(args, env.Stdout)
	if err != nil {
		return err
	}
	sel, err := sf.selection("replay", words, env.now(), true)
	if err != nil {
		return err
	}
	if *rate < 0 {
		return usageErrorf("replay: --rate %g is negative", *rate)
	}
	js, closeConn, err := connect(ctx, env)
	if err != nil {
		return err
	}
	defer closeConn()
	recs, err := openRecords(ctx, js)
	if err != nil {
		return err
	}
	r := &replayer{js: js, recs: recs, env: env, again: *again, dryRun: *dryRun, rate: *rate, windows: map[string]time.Duration{}}
	if r.records, err = recs.all(ctx); err != nil {
		return err
	}
	var letters []Letter
	if err := readLetters(ctx, js, sel, func(l Letter) error {
		letters = append(letters, l)
		return nil
	}); err != nil {
		return err
	}
	return r.run(ctx, letters)
}

// replayer replays a selection of letters.
type replayer struct {
	js      jetstream.JetStream
	recs    *records
	env     Env
	again   bool
	dryRun  bool
	rate    float64
	records map[uint64]entry
	windows map[string]time.Duration // duplicate window by target subject

	alreadyReplayed int // letters skipped because they were replayed before; decide's alone

	mu                        sync.Mutex // guards the counts and the progress bar
	replayed, skipped, failed int
	bar                       *progress
}

// finishTimeout bounds the publish and record of a letter once its publish began, when the
// command is interrupted: finishing it leaves a clean record instead of an unconfirmed one.
const finishTimeout = 10 * time.Second

// inFlight is how many letters are published at once. Each one's steps (read, intent record,
// publish, ack, record) are sequential; running several hides the round trips, so a thousand
// letters take about a second.
const inFlight = 32

// job is one letter to publish, as decide chose.
type job struct {
	l          Letter
	generation int
	prevRev    uint64
	// resumedAt is when an unconfirmed replay of the same generation began, zero for a new one.
	resumedAt time.Time
}

// run decides for each letter in sequence order and hands the ones to publish to inFlight
// publishers; with --rate the hand-offs are spaced. It returns once every publisher is done.
func (r *replayer) run(ctx context.Context, letters []Letter) error {
	r.bar = newProgress(r.env.Stderr, r.env.StderrTerminal && !r.dryRun, "replay", len(letters))
	runCtx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	jobs := make(chan job)
	var wg sync.WaitGroup
	for range inFlight {
		wg.Go(func() {
			for j := range jobs {
				err := r.publish(runCtx, j)
				if errors.Is(err, errStopped) {
					stop(err)
					continue
				}
				r.done(j.l, err)
			}
		})
	}
	start := time.Now()
	published := 0
	interrupted := false
feed:
	for _, l := range letters {
		if runCtx.Err() != nil {
			interrupted = true
			break
		}
		j, err := r.decide(runCtx, l)
		switch {
		case errors.Is(err, errSkip):
			r.done(l, errSkip)
			continue
		case err != nil:
			r.done(l, err)
			continue
		case r.dryRun:
			fmt.Fprintf(r.env.Stdout, "would replay %d (%s, %s) to %s as %s\n", l.Seq, l.Stage, l.Kind, l.OriginalSubject, replayMsgID(l.Seq, j.generation))
			r.done(l, nil)
			continue
		}
		if r.rate > 0 && !waitUntil(runCtx, start.Add(time.Duration(float64(published)/r.rate*float64(time.Second)))) {
			interrupted = true
			break
		}
		published++
		select {
		case jobs <- j:
		case <-runCtx.Done():
			interrupted = true
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	if cause := context.Cause(runCtx); errors.Is(cause, errStopped) {
		return cause
	}
	r.bar.finish()
	verb := "replayed"
	if r.dryRun {
		verb = "dry run, nothing changed: would replay"
	}
	fmt.Fprintf(r.env.Stdout, "%s %d, skipped %d, failed %d\n", verb, r.replayed, r.skipped, r.failed)
	if r.alreadyReplayed > 0 && !r.again {
		fmt.Fprintf(r.env.Stdout, "%d were replayed before: pass --again to replay them once more\n", r.alreadyReplayed)
	}
	switch {
	case interrupted:
		return fmt.Errorf("interrupted after %d of %d letters: run the same command again to resume: %w", r.replayed+r.skipped+r.failed, len(letters), ErrIncomplete)
	case r.failed > 0:
		return fmt.Errorf("%d of %d letters failed (see above): %w", r.failed, len(letters), ErrIncomplete)
	}
	return nil
}

// done counts a letter's outcome (nil: replayed, errSkip: skipped, else failed, said on stderr)
// and moves the progress bar.
func (r *replayer) done(l Letter, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case err == nil:
		r.replayed++
	case errors.Is(err, errSkip):
		r.skipped++
	default:
		r.failed++
		r.bar.clear()
		fmt.Fprintf(r.env.Stderr, "letter %d: %v\n", l.Seq, err)
	}
	r.bar.update(r.replayed+r.skipped+r.failed, fmt.Sprintf("replayed %d, skipped %d, failed %d", r.replayed, r.skipped, r.failed))
}

// errSkip: the letter was replayed already.
var errSkip = errors.New("skip")

// errStopped is returned by a test's stop hook, standing for a crash.
var errStopped = errors.New("stopped")

// decide says which generation to publish for l, and the revision its record must still have.
func (r *replayer) decide(ctx context.Context, l Letter) (job, error) {
	switch {
	case l.OriginalSubject == "":
		return job{}, fmt.Errorf("it has no %s header, so where it came from is unknown: it cannot be replayed", stage.HeaderOriginalSubject)
	case l.Truncated:
		return job{}, fmt.Errorf("its payload was cut to fit the server's max payload (%s): it cannot be replayed", stage.HeaderPayloadTruncated)
	}
	e, ok := forLetter(r.records, l)
	if !ok {
		if other, found := r.records[l.Seq]; found {
			return job{l: l, generation: 1, prevRev: other.revision}, nil // a record of an older letter with this sequence
		}
		return job{l: l, generation: 1}, nil
	}
	if e.State == stateReplayed {
		if !r.again {
			r.alreadyReplayed++
			return job{}, errSkip
		}
		return job{l: l, generation: e.Generation + 1, prevRev: e.revision}, nil
	}
	// A replay began and was not confirmed: the run stopped between the publish and its record.
	window, err := r.duplicateWindow(ctx, e.Subject)
	if err != nil {
		return job{}, err
	}
	if since := r.env.now().Sub(e.At); since < window-window/rerunMargin {
		// The same id, which the server drops if the first publish landed. The record keeps the
		// first attempt's time: the window runs from that publish, not from this one.
		return job{l: l, generation: e.Generation, prevRev: e.revision, resumedAt: e.At}, nil
	}
	if r.again {
		return job{l: l, generation: e.Generation + 1, prevRev: e.revision}, nil
	}
	return job{}, fmt.Errorf("a replay as %s began at %s and was not confirmed, longer ago than the duplicate window of %s (%v): "+
		"it may have run. Check (jetflow dlq show %d), then pass --again to replay it anyway, or purge it",
		e.MsgID, e.At.UTC().Format(time.RFC3339), e.Subject, window, l.Seq)
}

// duplicateWindow is the duplicate window of the stream that stores subject.
func (r *replayer) duplicateWindow(ctx context.Context, subject string) (time.Duration, error) {
	if w, ok := r.windows[subject]; ok {
		return w, nil
	}
	name, err := r.js.StreamNameBySubject(ctx, subject)
	if err != nil {
		return 0, fmt.Errorf("finding the stream of %s: %w", subject, err)
	}
	s, err := r.js.Stream(ctx, name)
	if err != nil {
		return 0, fmt.Errorf("reading stream %s: %w", name, err)
	}
	w := s.CachedInfo().Config.Duplicates
	r.windows[subject] = w
	return w, nil
}

// publish records the intent, publishes the copy, waits for its ack and records the result.
// Once begun it finishes within finishTimeout even if ctx ends, so that Ctrl-C leaves clean
// records.
func (r *replayer) publish(ctx context.Context, j job) error {
	l := j.l
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), finishTimeout)
	defer cancel()
	full, err := getLetter(ctx, r.js, l.Seq)
	if err != nil {
		return err
	}
	msg := replayMessage(full, j.generation)
	rec := Record{
		Letter: l.ID(), Generation: j.generation, State: statePublishing,
		MsgID: msg.Header.Get(jetstream.MsgIDHeader), Subject: msg.Subject, At: r.env.now().UTC(),
	}
	if !j.resumedAt.IsZero() {
		rec.At = j.resumedAt
	}
	rev, err := r.recs.put(ctx, l.Seq, j.prevRev, rec)
	if err != nil {
		return err
	}
	ack, err := r.js.PublishMsg(ctx, msg)
	if err != nil {
		return fmt.Errorf("publishing it to %s as %s (its record says unconfirmed; run replay again to retry it): %w", msg.Subject, rec.MsgID, err)
	}
	if r.env.afterPublish != nil {
		if err := r.env.afterPublish(l); err != nil {
			return fmt.Errorf("%w: %w", errStopped, err)
		}
	}
	rec.State, rec.Stream, rec.Seq, rec.Duplicate = stateReplayed, ack.Stream, ack.Sequence, ack.Duplicate
	if _, err := r.recs.put(ctx, l.Seq, rev, rec); err != nil {
		return fmt.Errorf("it was published as %s, but %w (run replay again to record it; the server drops the copy)", rec.MsgID, err)
	}
	return nil
}

// waitUntil waits for t or ctx; it reports whether t came.
func waitUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-ctx.Done():
		return false
	}
}
