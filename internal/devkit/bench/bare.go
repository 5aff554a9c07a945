package bench

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// bareLoop is the baseline: the fastest stage loop we could write directly on nats.go's
// jetstream package with the guarantees the jetflow runtime gives, and nothing else.
//
//   - No read-ahead beyond the concurrency: it fetches only as many messages as it has free
//     slots, and a slot is freed only when its message is acked (or naked).
//   - Publish, then ack: each input is forwarded with the same deterministic Nats-Msg-Id
//     (<stage>:<stream>:<sequence>:#1) and acked only after the output's publish ack.
//
// To be as fast as it can with those guarantees it uses no goroutine per message: outputs are
// published asynchronously as the fetched messages arrive (pipelined), and one acker goroutine
// waits for the publish acks in order and acks the inputs. It does not decode the payload, has
// no heartbeat, no telemetry, no panic recovery and no dead letters.
type bareLoop struct {
	js          jetstream.JetStream
	hop         hop
	concurrency int
}

type forwarded struct {
	in  jetstream.Msg
	ack jetstream.PubAckFuture
}

// ackOnPublishAck acks each forwarded input, in order, once its output's publish ack is in, and
// naks it when the publish failed (redelivered, as the runtime would); then it calls settled. It
// runs until pending is closed and drained, and closes the returned channel then.
func ackOnPublishAck(pending <-chan forwarded, settled func()) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		for f := range pending {
			select {
			case <-f.ack.Ok():
				_ = f.in.Ack()
			case err := <-f.ack.Err():
				if err != nil {
					_ = f.in.Nak()
				}
			}
			settled()
		}
	}()
	return done
}

func (b bareLoop) run(ctx context.Context) error {
	cons, err := b.js.Consumer(ctx, b.hop.Stream, b.hop.Name)
	if err != nil {
		return fmt.Errorf("looking up consumer %s: %w", b.hop.Name, err)
	}
	slots := make(chan struct{}, b.concurrency)
	for range b.concurrency {
		slots <- struct{}{}
	}
	// At most concurrency messages are in flight, so the queue never blocks the puller.
	pending := make(chan forwarded, b.concurrency)
	ackerDone := ackOnPublishAck(pending, func() { slots <- struct{}{} })
	defer func() {
		close(pending)
		<-ackerDone
	}()

	for {
		select {
		case <-ctx.Done():
			return nil
		case <-slots:
		}
		n := 1
	more:
		for n < b.concurrency {
			select {
			case <-slots:
				n++
			default:
				break more
			}
		}
		fetchCtx, cancel := context.WithTimeout(ctx, fetchWait)
		batch, err := cons.Fetch(n, jetstream.FetchContext(fetchCtx))
		if err != nil {
			cancel()
			for range n {
				slots <- struct{}{}
			}
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("fetching from %s: %w", b.hop.Name, err)
		}
		got := 0
		for in := range batch.Messages() {
			got++
			if f, ok := forward(b.js, b.hop, in); ok {
				pending <- f
			} else {
				slots <- struct{}{}
			}
		}
		cancel()
		for range n - got {
			slots <- struct{}{}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
			return fmt.Errorf("fetching from %s: %w", b.hop.Name, err)
		}
	}
}

// forward publishes the input's output on js without waiting for its ack.
func forward(js jetstream.JetStream, hp hop, in jetstream.Msg) (forwarded, bool) {
	meta, err := in.Metadata()
	if err != nil {
		_ = in.Term()
		return forwarded{}, false
	}
	out := &nats.Msg{
		Subject: hp.route(in.Subject()),
		Header: nats.Header{
			jetstream.MsgIDHeader: {hp.Name + ":" + meta.Stream + ":" + strconv.FormatUint(meta.Sequence.Stream, 10) + ":#1"},
		},
		Data: in.Data(),
	}
	ack, err := js.PublishMsgAsync(out)
	if err != nil {
		_ = in.Nak()
		return forwarded{}, false
	}
	return forwarded{in: in, ack: ack}, true
}
