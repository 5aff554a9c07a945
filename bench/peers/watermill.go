// Package peers holds the other frameworks jetflow-bench measures beside jetflow, in a module of
// their own so that the product's go.mod does not gain them. cmd/jetflow-bench-peers is
// jetflow-bench with these peers added.
package peers

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/ThreeDotsLabs/watermill"
	wmjs "github.com/ThreeDotsLabs/watermill-nats/v2/pkg/jetstream"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetflow-dev/jetflow/internal/devkit/bench"
)

// Metadata keys the unmarshaler adds to each Watermill message: the NATS subject it came on and
// the Nats-Msg-Id its output gets.
const (
	subjectKey = "bench-subject"
	outputID   = nats.MsgIdHdr
)

// Watermill is Watermill's router on watermill-nats's JetStream subscriber and publisher
// (pkg/jetstream, which binds to an existing durable pull consumer), set up for speed:
//   - concurrency handlers on the one subscriber: the JetStream subscriber hands a Consume
//     callback's message to the router and waits for its ack before taking the next, so a
//     router handler is one message at a time and concurrency c takes c handlers;
//   - each handler's Consume with PullMaxMessages(2): one message read ahead per handler while it
//     handles another, 2 × concurrency in all (the idiomatic loop reads concurrency ahead).
//     nats.go's default, 500 per Consume, is 500 × concurrency: at concurrency 64 and 512 KiB
//     that overran the connection's pending limit (a slow consumer) and the drain stalled;
//   - the output published synchronously by the handler (Publisher.Publish waits for the publish
//     ack) with the same Nats-Msg-Id as the runtime's, then the input acked by the router after
//     the handler returns (AckAsync: a plain ack, not DoubleAck's round trip);
//   - no logging (watermill.NopLogger).
func Watermill() bench.Peer {
	return bench.Peer{Name: "watermill", Serve: serveWatermill}
}

func serveWatermill(ctx context.Context, url string, hop bench.PeerHop, concurrency int) error {
	nc, err := nats.Connect(url, nats.Name("bench-watermill"))
	if err != nil {
		return fmt.Errorf("connecting: %w", err)
	}
	defer nc.Close()
	logger := watermill.NopLogger{}
	sub, err := wmjs.NewSubscriber(wmjs.SubscriberConfig{
		Conn:   nc,
		Logger: logger,
		ResourceInitializer: func(ctx context.Context, js jetstream.JetStream, _ string) (jetstream.Consumer, func(context.Context, watermill.LoggerAdapter), error) {
			c, err := js.Consumer(ctx, hop.Stream, hop.Consumer)
			return c, nil, err
		},
		ConsumeOptions: []jetstream.PullConsumeOpt{jetstream.PullMaxMessages(2)},
		AckAsync:       true,
		Unmarshaler:    unmarshaler{},
	})
	if err != nil {
		return fmt.Errorf("creating the subscriber: %w", err)
	}
	pub, err := wmjs.NewPublisher(wmjs.PublisherConfig{Conn: nc, Logger: logger})
	if err != nil {
		return fmt.Errorf("creating the publisher: %w", err)
	}
	router, err := message.NewRouter(message.RouterConfig{}, logger)
	if err != nil {
		return fmt.Errorf("creating the router: %w", err)
	}
	forward := func(in *message.Message) error {
		out := message.NewMessage(in.UUID, in.Payload)
		out.Metadata.Set(outputID, in.Metadata.Get(outputID))
		return pub.Publish(hop.To+strings.TrimPrefix(in.Metadata.Get(subjectKey), hop.From), out)
	}
	for i := range concurrency {
		router.AddConsumerHandler("forward-"+strconv.Itoa(i), hop.Stream, sub, forward)
	}
	runErr := router.Run(ctx) // until ctx ends; it closes the handlers' subscriptions
	if ctx.Err() != nil {
		// A short drain can end while the router is still subscribing its last handlers, which
		// then fail with the context's error: the stop, not a failure.
		runErr = nil
	}
	return errors.Join(runErr, sub.Close())
}

// unmarshaler is watermill-nats's default, plus the subject and the output's Nats-Msg-Id.
type unmarshaler struct{}

func (unmarshaler) Unmarshal(msg jetstream.Msg) (*message.Message, error) {
	m, err := wmjs.DefaultUnmarshaler{}.Unmarshal(msg)
	if err != nil {
		return nil, fmt.Errorf("unmarshaling a message on %s: %w", msg.Subject(), err)
	}
	meta, err := msg.Metadata()
	if err != nil {
		return nil, fmt.Errorf("reading the metadata of a message on %s: %w", msg.Subject(), err)
	}
	m.Metadata.Set(subjectKey, msg.Subject())
	m.Metadata.Set(outputID, meta.Consumer+":"+meta.Stream+":"+strconv.FormatUint(meta.Sequence.Stream, 10)+":#1")
	return m, nil
}
