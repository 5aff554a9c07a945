package stage

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// pulledMsg is a message taken off the stage's pull subscription, as a jetstream.Msg: the
// jetstream package turns a core message into one only inside its own Fetch and Consume, so the
// acknowledgements go through the core message's JetStream methods, which nats.go implements
// for any message with a subscription and an ack reply subject.
type pulledMsg struct{ m *nats.Msg }

var _ jetstream.Msg = pulledMsg{}

func (p pulledMsg) Metadata() (*jetstream.MsgMetadata, error) {
	md, err := p.m.Metadata()
	if err != nil {
		return nil, fmt.Errorf("reading the metadata of a message on %s: %w", p.m.Subject, err)
	}
	return &jetstream.MsgMetadata{
		Sequence:     jetstream.SequencePair{Consumer: md.Sequence.Consumer, Stream: md.Sequence.Stream},
		NumDelivered: md.NumDelivered,
		NumPending:   md.NumPending,
		Timestamp:    md.Timestamp,
		Stream:       md.Stream,
		Consumer:     md.Consumer,
		Domain:       md.Domain,
	}, nil
}

func (p pulledMsg) Data() []byte                       { return p.m.Data }
func (p pulledMsg) Headers() nats.Header               { return p.m.Header }
func (p pulledMsg) Subject() string                    { return p.m.Subject }
func (p pulledMsg) Reply() string                      { return p.m.Reply }
func (p pulledMsg) Ack() error                         { return p.m.Ack() }
func (p pulledMsg) Nak() error                         { return p.m.Nak() }
func (p pulledMsg) InProgress() error                  { return p.m.InProgress() }
func (p pulledMsg) Term() error                        { return p.m.Term() }
func (p pulledMsg) NakWithDelay(d time.Duration) error { return p.m.NakWithDelay(d) }

func (p pulledMsg) DoubleAck(ctx context.Context) error { return p.m.AckSync(nats.Context(ctx)) }

// TermWithReason terminates the message with a reason the server puts in its advisory. The core
// message has no such method; this is the body jetstream's TermWithReason sends.
func (p pulledMsg) TermWithReason(reason string) error {
	body := "+TERM"
	if reason != "" {
		body += " " + reason
	}
	if err := p.m.Respond([]byte(body)); err != nil {
		return fmt.Errorf("terminating a message on %s: %w", p.m.Subject, err)
	}
	return nil
}
