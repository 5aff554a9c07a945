package bench

import (
	"context"
	"runtime/pprof"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// measurement is the set-up a drain and a latency run share: a client connection, fresh
// streams, and the side's own connection. The side's connection and its stages' goroutines
// carry the pprof labels phase=<phase> and side=<side>, so that a CPU profile tells the two
// client loops apart from the server and the driver.
type measurement struct {
	h       *Harness
	side    side
	labels  pprof.LabelSet
	nc      *nats.Conn
	js      jetstream.JetStream
	streams *Streams
	stageNC *nats.Conn
	stageJS jetstream.JetStream
}

// newMeasurement connects as client and creates the streams of stages and sink. close undoes it.
func newMeasurement(ctx context.Context, h *Harness, sd side, phase, client string, stages []string, sink string) (*measurement, error) {
	nc, js, err := h.Connect(client)
	if err != nil {
		return nil, err
	}
	streams, err := h.NewStreams(ctx, js, stages, sink)
	if err != nil {
		nc.Close()
		return nil, err
	}
	return &measurement{
		h: h, side: sd, labels: pprof.Labels("phase", phase, "side", sd.name()),
		nc: nc, js: js, streams: streams,
	}, nil
}

// connectStages opens the side's own connection, so one side's buffers and subscriptions never
// serve the other.
func (m *measurement) connectStages(ctx context.Context) error {
	var err error
	pprof.Do(ctx, m.labels, func(context.Context) { m.stageNC, m.stageJS, err = m.h.Connect("bench-" + m.side.name()) })
	return err
}

// start runs the side's stages on hops in the background; stop cancels them and waits.
func (m *measurement) start(ctx context.Context, hops []hop) (stop func() error) {
	pprof.Do(ctx, m.labels, func(ctx context.Context) { stop = started(ctx, m.side, m.stageJS, hops) })
	return stop
}

// close closes the connections and deletes the streams.
func (m *measurement) close(ctx context.Context) {
	if m.stageNC != nil {
		m.stageNC.Close()
	}
	if err := m.streams.Delete(context.WithoutCancel(ctx), m.js); err != nil {
		m.h.log.Warn("deleting streams", "error", err)
	}
	m.nc.Close()
}
