package bench

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
)

// idiomaticLoop is the second reference: the loop a nats.go user would write for the same
// forward, without the runtime's bound on unacknowledged messages. Consume with
// PullMaxMessages(concurrency) keeps that many messages asked for ahead of the handler (read-ahead);
// each input is forwarded with PublishMsgAsync and the same Nats-Msg-Id, and acked when its
// publish ack arrives. At most concurrency publishes wait for their acks: the callback blocks
// beyond that, which is what bounds a handler of this shape.
type idiomaticLoop struct {
	js          jetstream.JetStream
	hop         hop
	concurrency int
}

func (b idiomaticLoop) run(ctx context.Context) error {
	cons, err := b.js.Consumer(ctx, b.hop.Stream, b.hop.Name)
	if err != nil {
		return fmt.Errorf("looking up consumer %s: %w", b.hop.Name, err)
	}
	waiting := make(chan struct{}, b.concurrency) // one token per publish waiting for its ack
	pending := make(chan forwarded, b.concurrency)
	ackerDone := ackOnPublishAck(pending, func() { <-waiting })
	cc, err := cons.Consume(func(in jetstream.Msg) {
		waiting <- struct{}{}
		if f, ok := forward(b.js, b.hop, in); ok {
			pending <- f
		} else {
			<-waiting
		}
	}, jetstream.PullMaxMessages(b.concurrency))
	if err != nil {
		close(pending)
		<-ackerDone
		return fmt.Errorf("consuming from %s: %w", b.hop.Name, err)
	}
	<-ctx.Done()
	cc.Stop()
	<-cc.Closed()
	close(pending)
	<-ackerDone
	return nil
}

// idiomaticSide runs each hop as an idiomaticLoop.
type idiomaticSide struct{ concurrency int }

func (idiomaticSide) name() string { return sideIdiomatic }

func (s idiomaticSide) serve(ctx context.Context, js jetstream.JetStream, hops []hop) error {
	return runAll(ctx, len(hops), func(ctx context.Context, i int) error {
		return idiomaticLoop{js: js, hop: hops[i], concurrency: s.concurrency}.run(ctx)
	})
}
