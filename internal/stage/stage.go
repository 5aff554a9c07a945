// Package stage is the durable stage runtime: one loop that serves every stage of every worker.
// It pulls from a durable JetStream consumer with bounded concurrency and no read-ahead, runs the
// handler, publishes the outputs with deterministic Nats-Msg-Ids, and acks only after their
// publish acks. Retryable failures are naked with a computed delay; permanent failures and the
// last delivery are copied to the dead-letter stream before the original is terminated.
package stage

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/proto"

	"github.com/jetflow-dev/jetflow/internal/failure"
	"github.com/jetflow-dev/jetflow/internal/telemetry"
)

// Gate is consulted before every pull. While OpenFor returns a positive duration the stage pulls
// nothing: an open circuit breaker makes a stage stop taking work instead of burning the
// delivery budget of messages against a dead upstream. breaker.Set implements it.
type Gate interface {
	OpenFor() time.Duration
}

// prober is the optional part of a Gate: while Probing is true (a half-open breaker), the stage
// takes one message at a time.
type prober interface{ Probing() bool }

// Option tunes a Stage.
type Option func(*Stage)

// WithLogger sets the logger. The default discards logs.
func WithLogger(l *slog.Logger) Option { return func(s *Stage) { s.log = l } }

// WithTracerProvider sets where spans go. The default is the global provider.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(s *Stage) { s.tracer = tp.Tracer("github.com/jetflow-dev/jetflow/internal/stage") }
}

// WithMeterProvider sets where metrics go. The default is the global provider.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return func(s *Stage) { s.meterProvider = mp }
}

// WithGate makes the stage stop pulling while the gate is open.
func WithGate(g Gate) Option { return func(s *Stage) { s.gate = g } }

// Stage runs one handler on one durable consumer.
type Stage struct {
	cfg           Config
	js            jetstream.JetStream
	handler       Handler
	log           *slog.Logger
	tracer        trace.Tracer
	meterProvider metric.MeterProvider
	gate          Gate
	ins           *instruments

	consumer   jetstream.Consumer
	ackWait    time.Duration
	maxDeliver int
	// publishTimeout bounds the wait for the publish acks of a message's outputs, as the
	// JetStream context's default timeout bounds a synchronous publish.
	publishTimeout time.Duration

	afterPublish func(*Input) // test hook: runs between the outputs' publish acks and the ack
}

// New prepares a stage. It does no I/O; Run binds to the consumer.
func New(js jetstream.JetStream, cfg Config, h Handler, opts ...Option) (*Stage, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("configuring stage: %w", err)
	}
	if h == nil {
		return nil, errors.New("configuring stage: handler is nil")
	}
	s := &Stage{
		cfg:     cfg.withDefaults(),
		js:      js,
		handler: h,
		log:     slog.New(slog.DiscardHandler),
	}
	for _, o := range opts {
		o(s)
	}
	if s.tracer == nil {
		s.tracer = otel.GetTracerProvider().Tracer("github.com/jetflow-dev/jetflow/internal/stage")
	}
	if s.meterProvider == nil {
		s.meterProvider = otel.GetMeterProvider()
	}
	ins, err := newInstruments(s.meterProvider.Meter("github.com/jetflow-dev/jetflow/internal/stage"), s.cfg.Name)
	if err != nil {
		return nil, fmt.Errorf("configuring stage %s: %w", s.cfg.Name, err)
	}
	s.ins = ins
	s.log = s.log.With("stage", s.cfg.Name, "stream", s.cfg.Stream, "consumer", s.cfg.Consumer)
	return s, nil
}

// Name is the stage's name.
func (s *Stage) Name() string { return s.cfg.Name }

// Check asks the server whether the stage's consumer exists, for readiness probes.
func (s *Stage) Check(ctx context.Context) error {
	if _, err := s.js.Consumer(ctx, s.cfg.Stream, s.cfg.Consumer); err != nil {
		return fmt.Errorf("looking up consumer %s on %s: %w", s.cfg.Consumer, s.cfg.Stream, err)
	}
	return nil
}

// errGraceOver is the cause of the handler contexts' cancellation when the grace period ran out.
var errGraceOver = errors.New("shutdown grace period over")

// Run pulls and handles messages until ctx is cancelled, then stops pulling, lets in-flight
// handlers finish within the grace period, cancels and naks the rest, and returns. Every
// goroutine it starts has ended when it returns. It returns nil after a clean shutdown.
func (s *Stage) Run(ctx context.Context) error {
	if err := s.bind(ctx); err != nil {
		return err
	}

	// Handlers run under their own context, so that shutdown stops pulling at once but gives
	// in-flight work the grace period before cancelling it. Its cause tells fail that a
	// cancellation was the end of the grace period.
	handlerCtx, cancelHandlers := context.WithCancelCause(context.WithoutCancel(ctx))
	defer cancelHandlers(nil)

	slots := make(chan struct{}, s.cfg.Concurrency)
	for range s.cfg.Concurrency {
		slots <- struct{}{}
	}
	// A fixed pool of workers handles the pulled messages: a goroutine per message would start
	// on a small stack and grow it (copying) on every message, a cost the profile shows. The
	// channel never blocks the puller: it holds at most one message per slot.
	work := make(chan jetstream.Msg, s.cfg.Concurrency)
	// A worker whose outputs are published hands the wait for their publish acks, and the ack, to
	// one completer goroutine and goes on with the next message. Publishes of several workers then
	// reach the connection's buffer together and leave in one write, and the completer acks in a
	// burst as the publish acks arrive in one read; a worker that blocked on its own publish ack
	// made the connection write each publish and each ack on its own (the write loop was a third
	// of the runtime's CPU per message in cmd/jetflow-bench's profile). The slot stays taken until
	// the ack, so the stage still holds at most Concurrency unacknowledged messages.
	completions := make(chan *completion, s.cfg.Concurrency)
	var inflight, workers sync.WaitGroup
	release := func() {
		slots <- struct{}{}
		inflight.Done()
	}
	leases := newLeases(s.cfg.Concurrency, s.heartbeatEvery())
	for i := range s.cfg.Concurrency {
		workers.Go(func() {
			for msg := range work {
				if c := s.handle(ctx, handlerCtx, msg, &leases.held[i]); c != nil {
					completions <- c
					continue
				}
				release()
			}
		})
	}
	completerDone := make(chan struct{})
	go func() {
		defer close(completerDone)
		var failing sync.WaitGroup
		defer failing.Wait()
		w := newWaiter()
		for c := range completions {
			if err := w.published(c.ctx, c.deadline, c.futures); err != nil {
				// What a failure means may take a dead letter or a requeued copy and its publish
				// ack (seconds, in an outage): decide it aside so the acks of the others go on.
				failing.Go(func() {
					s.finish(c, err)
					release()
				})
				continue
			}
			s.finish(c, nil)
			release()
		}
	}()
	heartbeatsDone := make(chan struct{})
	stopHeartbeats := make(chan struct{})
	go func() {
		defer close(heartbeatsDone)
		leases.beat(stopHeartbeats, s.log)
	}()
	defer func() {
		workers.Wait()
		close(completions)
		<-completerDone
		close(stopHeartbeats)
		<-heartbeatsDone
	}()
	pullDone := make(chan struct{})
	go func() {
		defer close(pullDone)
		defer close(work)
		s.pull(ctx, slots, work, &inflight)
	}()

	<-ctx.Done()
	<-pullDone
	finished := make(chan struct{})
	go func() {
		inflight.Wait()
		close(finished)
	}()
	select {
	case <-finished:
	case <-time.After(s.cfg.GracePeriod):
		s.log.Warn("grace period over, cancelling in-flight handlers", "grace", s.cfg.GracePeriod)
		cancelHandlers(errGraceOver)
		<-finished
	}
	// Acks and naks are fire-and-forget; make sure they reached the server before saying done.
	if nc := s.js.Conn(); nc != nil && nc.IsConnected() {
		if err := nc.FlushTimeout(5 * time.Second); err != nil {
			s.log.Warn("flushing acks at shutdown", "error", err)
		}
	}
	return nil
}

// bind looks up the consumer and reads the settings the runtime depends on. It retries until
// the consumer exists or ctx ends, so a worker can start before the streams are applied.
func (s *Stage) bind(ctx context.Context) error {
	wait := 100 * time.Millisecond
	for {
		cons, err := s.js.Consumer(ctx, s.cfg.Stream, s.cfg.Consumer)
		if err == nil {
			info := cons.CachedInfo()
			s.consumer = cons
			s.ackWait = info.Config.AckWait
			if s.ackWait <= 0 {
				s.ackWait = 30 * time.Second
			}
			s.maxDeliver = info.Config.MaxDeliver
			if len(info.Config.BackOff) > 0 {
				s.log.Warn("consumer has a server-side backoff list: it replaces ack_wait with its first value; the runtime computes retry delays itself, so remove it", "backoff", info.Config.BackOff)
				s.ackWait = min(s.ackWait, info.Config.BackOff[0])
			}
			s.publishTimeout = s.js.Options().DefaultTimeout
			return nil
		}
		if ctx.Err() != nil {
			return nil //nolint:nilerr // shutdown before the consumer appeared is a clean stop
		}
		s.log.Warn("waiting for consumer", "error", err, "retry_in", wait)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		wait = min(wait*2, 5*time.Second)
	}
}

// pull fetches as many messages as there are free slots, never more, so nothing waits in a
// client buffer while its ack wait runs out.
func (s *Stage) pull(ctx context.Context, slots chan struct{}, work chan<- jetstream.Msg, inflight *sync.WaitGroup) {
	errWait := 100 * time.Millisecond
	for {
		if !s.waitGate(ctx) {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-slots:
		}
		n := 1
		probing := s.probing()
		if busy := s.cfg.Concurrency - len(slots) - 1; busy > s.cfg.Concurrency/2 && !probing {
			n = gatherSlots(slots, n, s.cfg.Concurrency/2)
		}
	more:
		for n < s.cfg.Concurrency && !probing {
			select {
			case <-slots:
				n++
			default:
				break more
			}
		}
		fetchCtx, cancel := context.WithTimeout(ctx, s.cfg.FetchWait)
		batch, err := s.consumer.Fetch(n, jetstream.FetchContext(fetchCtx))
		if err != nil {
			cancel()
			for range n {
				slots <- struct{}{}
			}
			if !s.pause(ctx, "pulling", err, &errWait) {
				return
			}
			continue
		}
		got := 0
		for msg := range batch.Messages() {
			got++
			inflight.Add(1)
			work <- msg
		}
		cancel()
		for range n - got {
			slots <- struct{}{}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
			if !s.pause(ctx, "fetching", err, &errWait) {
				return
			}
			continue
		}
		errWait = 100 * time.Millisecond
	}
}

// handle processes one pulled message, or gives it straight back when it was pulled while
// shutting down. A non-nil completion still waits for its publish acks.
func (s *Stage) handle(ctx, handlerCtx context.Context, msg jetstream.Msg, l *lease) *completion {
	if ctx.Err() != nil {
		s.nak(msg, "shutting down before it started")
		return nil
	}
	return s.process(handlerCtx, msg, l)
}

// gatherWait bounds how long a busy stage waits for more free slots before pulling.
const gatherWait = 100 * time.Microsecond

// gatherSlots waits up to gatherWait for more slots until it holds want of them, and returns how
// many it holds. When most slots are busy they come back one at a time as handlers finish, and
// pulling at once would spend a pull request (a subscription, a request and an unsubscribe, on
// the client and on the server) on one or two messages; waiting a moment lets one request take
// several (+14% msgs/s for a no-op stage draining a backlog in cmd/jetflow-bench). An idle or
// lightly loaded stage never waits, and a handler that runs for a while does not notice 100 µs.
func gatherSlots(slots <-chan struct{}, have, want int) int {
	t := time.NewTimer(gatherWait)
	defer t.Stop()
	for have < want {
		select {
		case <-slots:
			have++
		case <-t.C:
			return have
		}
	}
	return have
}

// pause logs a pull error and waits with exponential backoff. A deleted consumer or a lost
// connection must not spin: the stage keeps trying (readiness, Check, fails meanwhile).
func (s *Stage) pause(ctx context.Context, what string, err error, wait *time.Duration) bool {
	s.log.Warn("pull failed, retrying", "doing", what, "error", err, "retry_in", *wait)
	select {
	case <-ctx.Done():
		return false
	case <-time.After(*wait):
	}
	*wait = min(*wait*2, 5*time.Second)
	return true
}

func (s *Stage) probing() bool {
	p, ok := s.gate.(prober)
	return ok && p.Probing()
}

// waitGate blocks while the gate is open. It returns false when ctx ends.
func (s *Stage) waitGate(ctx context.Context) bool {
	if s.gate == nil {
		return ctx.Err() == nil
	}
	for {
		d := s.gate.OpenFor()
		if d <= 0 {
			return ctx.Err() == nil
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(min(d, time.Second)):
		}
	}
}

// completion is a handled message whose outputs are published and whose publish acks are
// awaited before the message is acked.
type completion struct {
	ctx      context.Context //nolint:containedctx // the message's handler context, carried to the completer
	deadline time.Time       // when to stop waiting for the publish acks
	span     trace.Span
	msg      jetstream.Msg
	in       Input
	pub      publisher
	futures  []jetstream.PubAckFuture
}

// consumerSpan starts every message's span. The messaging attributes are added only to a span
// that records: building them cost allocations per message for spans that are dropped.
var consumerSpan = []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindConsumer)}

// process handles one message from decode to the publication of its outputs. It finishes (ack,
// nak or dead letter) a message that produced nothing to wait for, and returns nil; otherwise it
// returns the completion that acks it once its outputs are stored.
func (s *Stage) process(ctx context.Context, msg jetstream.Msg, l *lease) *completion {
	meta, err := msg.Metadata()
	if err != nil {
		// Not a JetStream delivery: nothing to ack. Cannot happen on a pull consumer.
		s.log.Error("message without JetStream metadata", "subject", msg.Subject(), "error", err)
		return nil
	}
	// The completion holds the input and its publisher too: one allocation for the three.
	c := &completion{msg: msg}
	in := &c.in
	fillInput(in, msg, meta)
	c.pub = publisher{stage: s, in: in}
	in.pub = &c.pub
	ctx = telemetry.Extract(ctx, in.Header)
	ctx, span := s.tracer.Start(ctx, s.cfg.Name, consumerSpan...)
	if span.IsRecording() {
		span.SetAttributes(
			attribute.String("messaging.system", "nats"),
			attribute.String("messaging.destination.name", in.Subject),
			attribute.String("messaging.consumer.group.name", s.cfg.Consumer),
			attribute.Int64("messaging.nats.stream_sequence", int64(in.Sequence)),
			attribute.Int64("messaging.nats.delivered", int64(in.Delivered)),
		)
	}
	c.ctx, c.span = ctx, span
	s.ins.inFlight.Add(ctx, 1, s.ins.add...)

	var outs []Output
	if len(in.Data) > s.cfg.MaxPayload {
		err = failure.Invalidf("payload of %d bytes exceeds the stage limit of %d bytes", len(in.Data), s.cfg.MaxPayload)
	} else {
		start := time.Now()
		outs, err = s.invoke(ctx, msg, in, l)
		s.ins.duration.Record(ctx, time.Since(start).Seconds(), s.ins.record...)
	}
	if err == nil && len(outs) > 0 {
		// As for a synchronous publish, the wait for the publish acks is bounded by the
		// JetStream context's default timeout.
		c.deadline = time.Now().Add(s.publishTimeout)
		if c.futures, err = c.pub.publishAsync(ctx, outs); err == nil {
			return c
		}
	}
	s.finish(c, err)
	return nil
}

// finish acks the message when its outputs are stored (err == nil), and otherwise lets fail
// decide; then it closes the message's span and metrics.
func (s *Stage) finish(c *completion, err error) {
	defer c.span.End()
	defer s.ins.inFlight.Add(c.ctx, -1, s.ins.add...)
	if err == nil {
		if s.afterPublish != nil {
			s.afterPublish(&c.in)
		}
		// Every publish ack is in: the client will not send these outputs again. (After a
		// failure the buffers are left to the collector; a publish may still be retried.)
		for _, b := range c.pub.buffers {
			releaseBuffer(b)
		}
		if ackErr := c.msg.Ack(); ackErr != nil {
			// The outputs are out; a redelivery will find them deduplicated.
			s.log.Warn("ack failed after publishing outputs", "seq", c.in.Sequence, "error", ackErr)
		}
		s.ins.processed.Add(c.ctx, 1, s.ins.outcome[outcomeAcked]...)
		return
	}
	c.span.RecordError(err)
	c.span.SetStatus(codes.Error, err.Error())
	s.fail(c.ctx, c.msg, &c.in, err)
}

// invoke runs the handler, holding the message's lease so that the stage's heartbeat keeps it
// alive, and turns a panic into a permanent error.
func (s *Stage) invoke(ctx context.Context, msg jetstream.Msg, in *Input, l *lease) (outs []Output, err error) {
	if s.cfg.HandlerTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.cfg.HandlerTimeout)
		defer cancel()
	}
	l.take(msg)
	defer l.release()
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("handler panicked", "seq", in.Sequence, "panic", r, "stack", string(debug.Stack()))
			outs, err = nil, failure.Permanentf("handler panicked: %v", r)
		}
	}()
	return s.handler.Handle(ctx, in)
}

// heartbeatEvery is how often a message whose handler runs long is reported in progress: a
// third of the ack wait, so that two beats may be late before the server redelivers it.
func (s *Stage) heartbeatEvery() time.Duration { return max(s.ackWait/3, 10*time.Millisecond) }

// fail decides what a failure means for the message: nak at shutdown, dead letter when
// permanent or out of attempts, requeue when the work was not attempted or the stage's breaker
// is now open, delayed nak otherwise.
func (s *Stage) fail(ctx context.Context, msg jetstream.Msg, in *Input, err error) {
	attempts := in.Attempt
	switch {
	case errors.Is(context.Cause(ctx), errGraceOver):
		s.nak(msg, "grace period over")
		s.ins.processed.Add(ctx, 1, s.ins.outcome[outcomeNaked]...)
	case failure.IsPermanent(err):
		s.deadLetter(ctx, msg, in, KindPermanent, err)
	case failure.WasNotAttempted(err):
		s.requeue(ctx, msg, in, attempts-1, err) // this delivery did not try the work
	case s.maxDeliver > 0 && attempts >= uint64(s.maxDeliver):
		s.deadLetter(ctx, msg, in, KindExhausted, fmt.Errorf("giving up after %d attempts: %w", attempts, err))
	case s.gate != nil && s.gate.OpenFor() > 0:
		// The failure opened (or met) an open breaker: an outage, not this message's fault. A
		// delayed nak would hold the message in ack pending for the whole outage.
		s.requeue(ctx, msg, in, attempts, err)
	default:
		hint, _ := failure.RetryDelay(err)
		delay := retryDelay(s.cfg.Backoff, in.Delivered, hint)
		if !errors.Is(err, context.Canceled) {
			s.log.Info("retrying later", "seq", in.Sequence, "delivered", in.Delivered, "delay", delay, "error", err)
		}
		if nakErr := msg.NakWithDelay(delay); nakErr != nil {
			s.log.Warn("nak failed; the server redelivers after the ack wait", "seq", in.Sequence, "error", nakErr)
		}
		s.ins.retried.Add(ctx, 1, s.ins.add...)
		s.ins.processed.Add(ctx, 1, s.ins.outcome[outcomeRetried]...)
	}
}

// requeue puts a message whose work could not be attempted (an open breaker) back into its
// stream as a fresh copy and acks the original. A nak would keep it in the consumer's ack pending
// set and spend a delivery each time; the copy waits as ordinary pending work, with its whole
// delivery budget, for a replica whose breaker lets it through.
func (s *Stage) requeue(ctx context.Context, msg jetstream.Msg, in *Input, attempts uint64, cause error) {
	h := withoutServerHeaders(in.Header)
	h.Set(HeaderRequeuedFrom, in.origin)
	h.Set(HeaderAttempts, strconv.FormatUint(attempts, 10))
	h.Set(jetstream.MsgIDHeader, "requeue:"+in.Stream+":"+strconv.FormatUint(in.Sequence, 10))
	pubCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if _, err := s.js.PublishMsg(pubCtx, &nats.Msg{Subject: in.Subject, Header: h, Data: in.Data}); err != nil {
		hint, _ := failure.RetryDelay(cause)
		s.log.Warn("requeueing failed, naking instead", "seq", in.Sequence, "error", err)
		_ = msg.NakWithDelay(retryDelay(s.cfg.Backoff, in.Delivered, hint))
		s.ins.retried.Add(ctx, 1, s.ins.add...)
		s.ins.processed.Add(ctx, 1, s.ins.outcome[outcomeRetried]...)
		return
	}
	if err := msg.Ack(); err != nil {
		s.log.Warn("acking a requeued message; its copy is deduplicated by origin", "seq", in.Sequence, "error", err)
	}
	s.log.Info("requeued: upstream unavailable", "seq", in.Sequence, "origin", in.origin, "error", cause)
	s.ins.processed.Add(ctx, 1, s.ins.outcome[outcomeRequeued]...)
}

func (s *Stage) nak(msg jetstream.Msg, why string) {
	if err := msg.Nak(); err != nil {
		s.log.Warn("nak failed; the server redelivers after the ack wait", "why", why, "error", err)
	}
}

// deadLetter copies the message to the dead-letter stream, waits for the publish ack, and only
// then terminates the original: in a work-queue stream Term deletes it.
func (s *Stage) deadLetter(ctx context.Context, msg jetstream.Msg, in *Input, kind string, cause error) {
	d := DeadLetter{
		Stage:           s.cfg.Name,
		Kind:            kind,
		Reason:          cause.Error(),
		OriginalSubject: in.Subject,
		Stream:          in.Stream,
		Sequence:        in.Sequence,
		Deliveries:      in.Attempt,
		Header:          in.Header,
		Data:            in.Data,
		FailedAt:        time.Now(),
	}
	pubCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := publishDeadLetter(pubCtx, s.js, d); err != nil {
		// Keep the original: it comes back after a delay and we try again.
		s.log.Error("dead-lettering failed, retrying the message later", "seq", in.Sequence, "error", err)
		_ = msg.NakWithDelay(retryDelay(s.cfg.Backoff, 1, 0))
		s.ins.retried.Add(ctx, 1, s.ins.add...)
		s.ins.processed.Add(ctx, 1, s.ins.outcome[outcomeRetried]...)
		return
	}
	s.log.Warn("dead-lettered", "seq", in.Sequence, "kind", kind, "delivered", in.Delivered, "error", cause)
	if err := msg.TermWithReason(kind + ": " + truncate(cause.Error(), 200)); err != nil {
		s.log.Warn("terminating dead-lettered message", "seq", in.Sequence, "error", err)
	}
	s.ins.deadLettered.Add(ctx, 1, s.ins.add...)
	s.ins.processed.Add(ctx, 1, s.ins.outcome[outcomeDeadLettered]...)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// publisher publishes one input's outputs with ids that survive redelivery.
type publisher struct {
	stage *Stage
	in    *Input
	mu    sync.Mutex
	n     int // outputs published so far, for positional keys
	// buffers hold the encoded outputs published asynchronously, released after their acks.
	buffers []*[]byte
}

// msgID is <stage>:<stream>:<sequence>:<key>. The input's stream sequence (not its request
// id, which clients choose and may repeat, as STT chunks of one session do) makes the id
// unique per input and identical on every redelivery of it; a requeued copy keeps the
// original's stream and sequence.
func (p *publisher) msgID(key string) string {
	return p.stage.cfg.Name + ":" + p.in.origin + ":" + key
}

func (p *publisher) build(ctx context.Context, out Output, key string) (*nats.Msg, *[]byte, error) {
	id := p.msgID(key)
	if out.ID != "" {
		id = outputID(p.stage.cfg.Name, out.ID)
	}
	return newOutputMsg(ctx, id, out, p.in.JSON, true)
}

// outputID is the Nats-Msg-Id of an output with Output.ID set.
func outputID(stageName, id string) string { return stageName + ":" + id }

// BuildOutput builds the message the runtime of stage stageName publishes for out, for code
// that publishes such an output itself (outside a handler, or ahead of the runtime): the same
// Nats-Msg-Id "<stageName>:<out.ID>" (so either copy lands once), HeaderContentType (protojson
// when asJSON, binary protobuf otherwise), HeaderType, HeaderRequestID when the message has a
// request id, out.Header, and the trace context of ctx. out.ID is required: the runtime's other
// ids derive from the input being handled, which this function does not know. The message's
// Data belongs to the caller. Like the runtime, it fails permanently when out.Msg cannot be
// encoded.
func BuildOutput(ctx context.Context, stageName string, out Output, asJSON bool) (*nats.Msg, error) {
	if out.ID == "" {
		return nil, fmt.Errorf("building output for %s: output has no ID", out.Subject)
	}
	msg, _, err := newOutputMsg(ctx, outputID(stageName, out.ID), out, asJSON, false)
	if err != nil {
		return nil, fmt.Errorf("building output for %s: %w", out.Subject, err)
	}
	return msg, nil
}

// newOutputMsg builds an output message with Nats-Msg-Id id. With pooled, a binary payload is
// encoded into a pooled buffer, returned for releaseBuffer once no publish can resend it.
func newOutputMsg(ctx context.Context, id string, out Output, asJSON, pooled bool) (*nats.Msg, *[]byte, error) {
	if out.Subject == "" {
		return nil, nil, errors.New("output has no subject")
	}
	data, buf, ct, err := encode(out.Msg, asJSON, pooled)
	if err != nil {
		return nil, nil, failure.Permanent(err)
	}
	h := make(nats.Header, len(out.Header)+6)
	for k, v := range out.Header {
		h[k] = v
	}
	// The runtime's headers share one backing array instead of a slice each.
	vals := [...]string{id, ct, string(proto.MessageName(out.Msg)), ""}
	h[jetstream.MsgIDHeader] = vals[0:1:1]
	h[HeaderContentType] = vals[1:2:2]
	h[HeaderType] = vals[2:3:3]
	if rid, ok := out.Msg.(requestIdentified); ok && rid.GetRequestId() != "" {
		vals[3] = rid.GetRequestId()
		h[HeaderRequestID] = vals[3:4:4]
	}
	telemetry.Inject(ctx, h)
	return &nats.Msg{Subject: out.Subject, Header: h, Data: data}, buf, nil
}

func (p *publisher) nextKey(key string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.n++
	if key != "" {
		return key
	}
	return "#" + strconv.Itoa(p.n)
}

func (p *publisher) emit(ctx context.Context, out Output) error {
	msg, buf, err := p.build(ctx, out, p.nextKey(out.Key))
	if err != nil {
		return fmt.Errorf("building output for %s: %w", out.Subject, err)
	}
	if _, err := p.stage.js.PublishMsg(ctx, msg); err != nil {
		return fmt.Errorf("publishing output to %s: %w", out.Subject, err)
	}
	releaseBuffer(buf) // a synchronous publish is over: the client holds no copy to resend
	return nil
}

// publishAsync publishes the outputs without waiting for their publish acks. Waiting on the
// futures instead of a synchronous request per output drained a backlog about 1.3x faster with
// 16 workers in cmd/jetflow-bench.
func (p *publisher) publishAsync(ctx context.Context, outs []Output) ([]jetstream.PubAckFuture, error) {
	futures := make([]jetstream.PubAckFuture, 0, len(outs))
	for _, out := range outs {
		msg, buf, err := p.build(ctx, out, p.nextKey(out.Key))
		if err != nil {
			return nil, fmt.Errorf("building output for %s: %w", out.Subject, err)
		}
		if buf != nil {
			p.buffers = append(p.buffers, buf)
		}
		f, err := p.stage.js.PublishMsgAsync(msg)
		if err != nil {
			return nil, fmt.Errorf("publishing output to %s: %w", out.Subject, err)
		}
		futures = append(futures, f)
	}
	return futures, nil
}
