package bench

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/jetflow-dev/jetflow/internal/stage"
)

// hopLatency is scenario 2: the latency one request sees through a chain of two stages with
// instant handlers (stage a -> stage b -> result stream), from just before its publish to the
// arrival of its result at a subscriber, at a fixed moderate rate, for the jetflow runtime and
// for the bare loop. Target: jetflow p99 <= 1.3 × bare p99.
type hopLatency struct{}

func (hopLatency) ID() string   { return "2" }
func (hopLatency) Name() string { return "hop latency (2 stages)" }

const latencyTarget = 1.3

// latencyPayload is the request size of the hop-latency scenario.
const latencyPayload = 1 << 10

func (l hopLatency) Run(ctx context.Context, h *Harness) ([]Row, error) {
	cfg := h.Config()
	sides := h.sides()
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
	ms, err := newMeasurement(ctx, h, sd, "latency", "bench-client", []string{"a", "b"}, "result")
	if err != nil {
		return nil, err
	}
	defer ms.close(ctx)
	streams := ms.streams
	hops := []hop{streams.hop("a", "b"), streams.hop("b", "result")}
	data, err := request(latencyPayload)
	if err != nil {
		return nil, err
	}

	warm := int(warmUp.Seconds() * float64(rate))
	total := warm + max(1, int(duration.Seconds()*float64(rate)))
	tr := newTracker("", total)
	sub, err := ms.nc.Subscribe(streams.Subject("result")+".>", tr.received)
	if err != nil {
		return nil, fmt.Errorf("subscribing to results: %w", err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := ms.nc.Flush(); err != nil {
		return nil, fmt.Errorf("flushing the results subscription: %w", err)
	}

	if err := ms.connectStages(ctx); err != nil {
		return nil, err
	}
	settle()
	stop := ms.start(ctx, hops)
	// Request i is <a>.<i>; the chain keeps the last token, so its result is <result>.<i>.
	requestPrefix := streams.Subject("a") + "."
	sendErr := tr.sendPaced(ctx, ms.js, 0, total, rate, func(i int) (*nats.Msg, error) {
		return &nats.Msg{Subject: requestPrefix + strconv.Itoa(i), Data: data, Header: nats.Header{stage.HeaderType: {requestTypeName}}}, nil
	})
	waitErr := tr.wait(ctx, total, 30*time.Second)
	if err := errors.Join(sendErr, waitErr, stop()); err != nil {
		return nil, err
	}
	return tr.latencies(warm, total), nil
}
