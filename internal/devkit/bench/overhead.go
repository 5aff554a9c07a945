package bench

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetflow-dev/jetflow/internal/stage"
)

// overhead is scenario 1, stage overhead: how fast one no-op stage drains a backlog through the
// jetflow runtime, against the bare loop with the same concurrency and guarantees. For each
// payload size M requests are stored first; the time from starting the stage to the input
// stream being empty (every input acked, which a work-queue stream turns into a delete) gives
// msgs/s. Target: jetflow >= 0.90 of the faster of the two references (bare and idiomatic).
type overhead struct{}

func (overhead) ID() string   { return "1" }
func (overhead) Name() string { return "stage overhead" }

const overheadTarget = 0.90

func (o overhead) Run(ctx context.Context, h *Harness) ([]Row, error) {
	cfg := h.Config()
	sides := h.sides()
	type runs struct{ rate, cpu map[string][]float64 }
	byPayload := make(map[int]runs, len(cfg.Payloads))
	for _, p := range cfg.Payloads {
		byPayload[p] = runs{rate: map[string][]float64{}, cpu: map[string][]float64{}}
	}
	// Alternate the sides and the order in which they go first, round after round, so a slow
	// patch of the machine does not land on one side only.
	for round := range cfg.Rounds {
		for _, p := range cfg.Payloads {
			for i := range sides {
				sd := sides[(i+round)%len(sides)]
				res, err := drain(ctx, h, sd, p, cfg.messagesFor(p), nil)
				if err != nil {
					return nil, fmt.Errorf("draining %s through %s: %w", formatSize(p), sd.name(), err)
				}
				h.log.Info("drained", "side", sd.name(), "payload", p, "round", round+1,
					"msgs_per_s", int(res.rate), "cpu_per_msg", res.cpuPerMsg)
				r := byPayload[p]
				r.rate[sd.name()] = append(r.rate[sd.name()], res.rate)
				r.cpu[sd.name()] = append(r.cpu[sd.name()], float64(res.cpuPerMsg)/float64(time.Microsecond))
			}
		}
	}
	rows := make([]Row, 0, 2*len(cfg.Payloads))
	for _, p := range cfg.Payloads {
		r := byPayload[p]
		tput := compare(o, formatSize(p), fmt.Sprintf("drain throughput (M=%d, c=%d)", cfg.messagesFor(p), cfg.Concurrency),
			"msg/s", r.rate)
		tput.Target = fmt.Sprintf(">= %.2f of the faster reference", overheadTarget)
		tput.Status = StatusOK
		if tput.slowestRatio() < overheadTarget {
			tput.Status = StatusBelowTarget
		}
		cpu := compare(o, formatSize(p), "CPU per message (whole process, server included)", "µs", r.cpu)
		cpu.Status = StatusInfo
		rows = append(rows, tput, cpu)
	}
	return rows, nil
}

// timer is told when the timed part of a drain starts and stops; *testing.B is one.
type timer interface {
	StartTimer()
	StopTimer()
}

// drainResult is one drain run.
type drainResult struct {
	rate      float64       // messages per second, from the start of the stage to the last ack
	cpuPerMsg time.Duration // CPU time of the whole process (stage, server, poller) per message
}

// drain stores m requests of size bytes in fresh streams, starts the side's stage on them, and
// measures until the last ack. It checks that every request gave exactly one output. t, when
// not nil, is started and stopped around the timed part.
func drain(ctx context.Context, h *Harness, sd side, size, m int, t timer) (drainResult, error) {
	ms, err := newMeasurement(ctx, h, sd, "drain", "bench-producer", []string{"work"}, "out")
	if err != nil {
		return drainResult{}, err
	}
	defer ms.close(ctx)
	data, err := request(size)
	if err != nil {
		return drainResult{}, err
	}
	if err := prepublish(ctx, ms.js, ms.streams.Subject("work")+".x", data, m); err != nil {
		return drainResult{}, err
	}
	in := ms.streams.hop("work", "out")
	if err := ms.connectStages(ctx); err != nil {
		return drainResult{}, err
	}
	settle()
	if t != nil {
		t.StartTimer()
	}
	cpu0 := h.cpuTime()
	start := time.Now()
	stop := ms.start(ctx, []hop{in})
	waitErr := waitEmpty(ctx, ms.js, in.Stream, drainTimeout(m))
	elapsed, cpu := time.Since(start), h.cpuTime()-cpu0
	if t != nil {
		t.StopTimer()
	}
	if err := errors.Join(waitErr, stop()); err != nil {
		return drainResult{}, err
	}
	outs, err := count(ctx, ms.js, ms.streams.Stream("out"))
	if err != nil {
		return drainResult{}, err
	}
	if outs != uint64(m) {
		return drainResult{}, fmt.Errorf("%d requests gave %d outputs", m, outs)
	}
	return drainResult{rate: float64(m) / elapsed.Seconds(), cpuPerMsg: cpu / time.Duration(m)}, nil
}

// drainTimeout is generous: a run that takes this long has failed, not been slow.
func drainTimeout(m int) time.Duration { return 60*time.Second + time.Duration(m)*10*time.Millisecond }

// prepublish stores m copies of data on subject and waits until the stream has acknowledged all
// of them.
func prepublish(ctx context.Context, js jetstream.JetStream, subject string, data []byte, m int) error {
	return publishPipelined(ctx, js, m, func(int) (*nats.Msg, error) {
		return &nats.Msg{Subject: subject, Data: data, Header: nats.Header{stage.HeaderType: {requestTypeName}}}, nil
	})
}

// publishPipelined stores messages 0..n-1 built by next, keeping up to 256 publishes in flight,
// and waits until the stream has acknowledged all of them.
func publishPipelined(ctx context.Context, js jetstream.JetStream, n int, next func(i int) (*nats.Msg, error)) error {
	const window = 256
	futures := make([]jetstream.PubAckFuture, 0, window)
	wait := func() error {
		for _, f := range futures {
			select {
			case <-f.Ok():
			case err := <-f.Err():
				return fmt.Errorf("storing %s: %w", f.Msg().Subject, err)
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		futures = futures[:0]
		return nil
	}
	for i := range n {
		msg, err := next(i)
		if err != nil {
			return err
		}
		f, err := js.PublishMsgAsync(msg)
		if err != nil {
			return fmt.Errorf("storing %s: %w", msg.Subject, err)
		}
		if futures = append(futures, f); len(futures) == window {
			if err := wait(); err != nil {
				return err
			}
		}
	}
	return wait()
}

// waitEmpty polls the stream every few milliseconds until it holds no message. The poll is the
// same for both sides and costs one small API request per poll.
func waitEmpty(ctx context.Context, js jetstream.JetStream, stream string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	st, err := js.Stream(ctx, stream)
	if err != nil {
		return fmt.Errorf("looking up stream %s: %w", stream, err)
	}
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		info, err := st.Info(ctx)
		if err != nil {
			return fmt.Errorf("waiting for %s to drain: %w", stream, err)
		}
		if info.State.Msgs == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s to drain (%d messages left): %w", stream, info.State.Msgs, ctx.Err())
		case <-tick.C:
		}
	}
}
