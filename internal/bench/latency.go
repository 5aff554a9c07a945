package bench

import (
	"context"
	"errors"
	"fmt"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetflow-dev/jetflow/internal/stage"
)

// hopLatency is scenario 2: the latency one request sees through a chain of two stages with
// instant handlers (stage a -> stage b -> result stream), from just before its publish to the
// arrival of its result at a subscriber, at a fixed moderate rate, for the jetflow runtime and
// for the bare loop. Target: jetflow p99 <= 1.5 × bare p99.
type hopLatency struct{}

func (hopLatency) ID() string   { return "2" }
func (hopLatency) Name() string { return "hop latency (2 stages)" }

const latencyTarget = 1.5

// latencyPayload is the request size of the hop-latency scenario.
const latencyPayload = 1 << 10

func (l hopLatency) Run(ctx context.Context, h *Harness) ([]Row, error) {
	cfg := h.Config()
	sides := []side{jetflowSide{concurrency: cfg.Concurrency, h: h}, bareSide{concurrency: cfg.Concurrency}}
	p50s, p99s := map[string][]float64{}, map[string][]float64{}
	for round := range cfg.Rounds {
		for i := range sides {
			sd := sides[(i+round)%len(sides)]
			lat, err := chainLatency(ctx, h, sd, cfg.Rate, cfg.warmUp(), cfg.Duration)
			if err != nil {
				return nil, fmt.Errorf("measuring hop latency through %s: %w", sd.name(), err)
			}
			p50, p99 := millis(percentile(lat, 50)), millis(percentile(lat, 99))
			h.log.Info("measured latency", "side", sd.name(), "round", round+1, "samples", len(lat), "p50_ms", p50, "p99_ms", p99)
			p50s[sd.name()] = append(p50s[sd.name()], p50)
			p99s[sd.name()] = append(p99s[sd.name()], p99)
		}
	}
	caseName := fmt.Sprintf("%s at %d msg/s for %s", formatSize(latencyPayload), cfg.Rate, cfg.Duration)
	p50 := compare(l, caseName, "publish-to-result p50", "ms", p50s)
	p50.Status = StatusInfo
	p99 := compare(l, caseName, "publish-to-result p99", "ms", p99s)
	p99.Target = fmt.Sprintf("<= %.2f", latencyTarget)
	p99.Status = StatusOK
	if p99.Ratio == 0 || p99.Ratio > latencyTarget {
		p99.Status = StatusBelowTarget
	}
	return []Row{p50, p99}, nil
}

// chainLatency sends requests at rate through a fresh a -> b -> result chain served by sd for
// warm + duration, and returns the latencies of the requests sent after warm.
func chainLatency(ctx context.Context, h *Harness, sd side, rate int, warmUp, duration time.Duration) ([]time.Duration, error) {
	nc, js, err := h.Connect("bench-client")
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	streams, err := h.NewStreams(ctx, js, []string{"a", "b"}, "result")
	if err != nil {
		return nil, err
	}
	defer func() {
		if err := streams.Delete(context.WithoutCancel(ctx), js); err != nil {
			h.log.Warn("deleting streams", "error", err)
		}
	}()
	hops := []hop{
		{Name: "a", Stream: streams.Stream("a"), Consumer: "a", From: streams.Subject("a"), To: streams.Subject("b")},
		{Name: "b", Stream: streams.Stream("b"), Consumer: "b", From: streams.Subject("b"), To: streams.Subject("result")},
	}
	data, err := request(latencyPayload)
	if err != nil {
		return nil, err
	}

	warm := int(warmUp.Seconds() * float64(rate))
	total := warm + max(1, int(duration.Seconds()*float64(rate)))
	p := newProbe(total)
	sub, err := nc.Subscribe(streams.Subject("result")+".>", func(m *nats.Msg) { p.received(m.Subject) })
	if err != nil {
		return nil, fmt.Errorf("subscribing to results: %w", err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := nc.Flush(); err != nil {
		return nil, fmt.Errorf("flushing the results subscription: %w", err)
	}

	// As in drain, the stages' connection and goroutines carry pprof labels.
	labels := pprof.Labels("phase", "latency", "side", sd.name())
	var (
		wnc     *nats.Conn
		wjs     jetstream.JetStream
		connErr error
		stop    func() error
	)
	pprof.Do(ctx, labels, func(context.Context) { wnc, wjs, connErr = h.Connect("bench-" + sd.name()) })
	if connErr != nil {
		return nil, connErr
	}
	defer wnc.Close()
	settle()
	pprof.Do(ctx, labels, func(ctx context.Context) { stop = started(ctx, sd, wjs, hops) })
	sendErr := send(ctx, js, streams.Subject("a"), data, rate, p)
	waitErr := p.wait(ctx, 30*time.Second)
	if err := errors.Join(sendErr, waitErr, stop()); err != nil {
		return nil, err
	}
	return p.latencies(warm), nil
}

// send publishes p's requests on a fixed schedule: request i leaves at start + i/rate, whatever
// happened to the ones before (an open-loop load, so a slow answer does not slow the sender and
// hide its own latency).
func send(ctx context.Context, js jetstream.JetStream, prefix string, data []byte, rate int, p *probe) error {
	interval := time.Second / time.Duration(rate)
	start := time.Now()
	for i := range len(p.sent) {
		if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(d):
			}
		}
		msg := &nats.Msg{
			Subject: prefix + "." + strconv.Itoa(i),
			Data:    data,
			Header:  nats.Header{stage.HeaderType: {requestTypeName}},
		}
		p.sent[i].Store(time.Now().UnixNano())
		if _, err := js.PublishMsgAsync(msg); err != nil {
			return fmt.Errorf("sending request %d: %w", i, err)
		}
	}
	return nil
}

// probe records when each numbered request was sent and when its result arrived. Results are
// published on <prefix>.<number>.
type probe struct {
	sent, recv []atomic.Int64 // unix nanoseconds; 0 = not yet
	got        atomic.Int64
	done       chan struct{}
}

func newProbe(n int) *probe {
	return &probe{sent: make([]atomic.Int64, n), recv: make([]atomic.Int64, n), done: make(chan struct{})}
}

func (p *probe) received(subject string) {
	now := time.Now().UnixNano()
	i, err := strconv.Atoi(subject[strings.LastIndexByte(subject, '.')+1:])
	if err != nil || i < 0 || i >= len(p.recv) {
		return
	}
	if p.recv[i].CompareAndSwap(0, now) && p.got.Add(1) == int64(len(p.recv)) {
		close(p.done)
	}
}

func (p *probe) wait(ctx context.Context, timeout time.Duration) error {
	select {
	case <-p.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(timeout):
		return fmt.Errorf("%d of %d results arrived within %v", p.got.Load(), len(p.recv), timeout)
	}
}

// latencies of the requests from number skip on.
func (p *probe) latencies(skip int) []time.Duration {
	out := make([]time.Duration, 0, len(p.sent)-skip)
	for i := skip; i < len(p.sent); i++ {
		out = append(out, time.Duration(p.recv[i].Load()-p.sent[i].Load()))
	}
	return out
}
