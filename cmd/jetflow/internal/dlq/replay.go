package dlq

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jetflow-dev/jetflow/internal/operator/deadletters"
)

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
	known, err := recs.All(ctx)
	if err != nil {
		return err
	}
	r := &replayer{
		Replayer: &deadletters.Replayer{JS: js, Records: recs, Known: known, Again: *again, Now: env.now, AfterPublish: stopHook(env.afterPublish)},
		env:      env, dryRun: *dryRun, rate: *rate,
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

// replayer replays a selection of letters: the library's safe replay, with the command's
// dry run, rate, counts and progress.
type replayer struct {
	*deadletters.Replayer
	env    Env
	dryRun bool
	rate   float64

	alreadyReplayed int // letters skipped because they were replayed before; run's alone

	mu                        sync.Mutex // guards the counts and the progress bar
	replayed, skipped, failed int
	bar                       *progress
}

// inFlight is how many letters are published at once. Each one's steps (read, intent record,
// publish, ack, record) are sequential; running several hides the round trips, so a thousand
// letters take about a second.
const inFlight = 32

// run decides for each letter in sequence order and hands the ones to publish to inFlight
// publishers; with --rate the hand-offs are spaced. It returns once every publisher is done.
func (r *replayer) run(ctx context.Context, letters []Letter) error {
	r.bar = newProgress(r.env.Stderr, r.env.StderrTerminal && !r.dryRun, "replay", len(letters))
	runCtx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	jobs := make(chan deadletters.Job)
	var wg sync.WaitGroup
	for range inFlight {
		wg.Go(func() {
			for j := range jobs {
				_, err := r.Publish(runCtx, j)
				if errors.Is(err, errStopped) {
					stop(err)
					continue
				}
				r.done(j.Letter, err)
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
		j, err := r.Decide(runCtx, l)
		switch {
		case errors.Is(err, deadletters.ErrAlreadyReplayed):
			r.alreadyReplayed++
			r.done(l, errSkip)
			continue
		case err != nil:
			r.done(l, err)
			continue
		case r.dryRun:
			fmt.Fprintf(r.env.Stdout, "would replay %d (%s, %s) to %s as %s\n", l.Seq, l.Stage, l.Kind, l.OriginalSubject, replayMsgID(l.Seq, j.Generation))
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
	if r.alreadyReplayed > 0 && !r.Again {
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

// stopHook makes a test's afterPublish error an errStopped, which ends the run as a crash would.
func stopHook(hook func(Letter) error) func(Letter) error {
	if hook == nil {
		return nil
	}
	return func(l Letter) error {
		if err := hook(l); err != nil {
			return fmt.Errorf("%w: %w", errStopped, err)
		}
		return nil
	}
}
