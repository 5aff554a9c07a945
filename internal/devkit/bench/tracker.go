package bench

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// tracker numbers the requests of one measurement and records when each was sent and when its
// result arrived. A result names its request in the last token of its subject:
// <anything>.<prefix><number>.
type tracker struct {
	prefix     string
	sent, recv []atomic.Int64 // unix nanoseconds; 0 = not yet
	got        atomic.Int64
	arrived    chan struct{} // signalled on every arrival
	// onArrival, when set, reads what else a measurement wants from result i before the result
	// counts as arrived, so that whoever wait released finds it recorded.
	onArrival func(i int, m *nats.Msg)
}

func newTracker(prefix string, n int) *tracker {
	return &tracker{prefix: prefix, sent: make([]atomic.Int64, n), recv: make([]atomic.Int64, n), arrived: make(chan struct{}, 1)}
}

// received is the results subscription's handler. Results of other measurements and repeated
// results are ignored.
func (t *tracker) received(m *nats.Msg) {
	now := time.Now().UnixNano()
	rest, ok := strings.CutPrefix(m.Subject[strings.LastIndexByte(m.Subject, '.')+1:], t.prefix)
	if !ok {
		return
	}
	i, err := strconv.Atoi(rest)
	if err != nil || i < 0 || i >= len(t.recv) || !t.recv[i].CompareAndSwap(0, now) {
		return
	}
	if t.onArrival != nil {
		t.onArrival(i, m)
	}
	t.got.Add(1)
	select {
	case t.arrived <- struct{}{}:
	default:
	}
}

// markSent records that request i leaves now.
func (t *tracker) markSent(i int) { t.sent[i].Store(time.Now().UnixNano()) }

// wait returns when n results have arrived.
func (t *tracker) wait(ctx context.Context, n int, timeout time.Duration) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for t.got.Load() < int64(n) {
		select {
		case <-t.arrived:
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline.C:
			return fmt.Errorf("%d of %d results arrived within %v", t.got.Load(), n, timeout)
		}
	}
	return nil
}

// latencies of requests from..to-1, send to result.
func (t *tracker) latencies(from, to int) []time.Duration {
	out := make([]time.Duration, 0, to-from)
	for i := from; i < to; i++ {
		out = append(out, time.Duration(t.recv[i].Load()-t.sent[i].Load()))
	}
	return out
}

// steadyRate is the rate at which results 0..n-1 arrived between the tenth and the ninetieth
// percentile of their arrivals: the start of the consumers and the last stragglers are left out.
func (t *tracker) steadyRate(n int) float64 {
	at := make([]int64, n)
	for i := range n {
		at[i] = t.recv[i].Load()
	}
	slices.Sort(at)
	lo, hi := n/10, n-1-n/10
	if hi <= lo || at[hi] == at[lo] {
		return 0
	}
	return float64(hi-lo) / time.Duration(at[hi]-at[lo]).Seconds()
}

// sendPaced publishes requests from..from+n-1, built by message, open loop: request i leaves at
// start + (i-from)/rate whatever happened to the ones before, so a slow answer does not slow the
// sender and hide its own latency.
func (t *tracker) sendPaced(ctx context.Context, js jetstream.JetStream, from, n, rate int, message func(i int) (*nats.Msg, error)) error {
	interval := time.Second / time.Duration(rate)
	start := time.Now()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for k := range n {
		if d := time.Until(start.Add(time.Duration(k) * interval)); d > 0 {
			timer.Reset(d)
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-timer.C:
			}
		}
		msg, err := message(from + k)
		if err != nil {
			return err
		}
		t.markSent(from + k)
		if _, err := js.PublishMsgAsync(msg); err != nil {
			return fmt.Errorf("sending request %d: %w", from+k, err)
		}
	}
	return nil
}
