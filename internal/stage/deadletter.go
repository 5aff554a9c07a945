package stage

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetflow-dev/jetflow/streams"
)

// DeadLetter describes a message that will not be retried.
type DeadLetter struct {
	Stage           string
	Kind            string // KindPermanent, KindExhausted or KindMaxDeliveries
	Reason          string
	OriginalSubject string
	Stream          string
	Sequence        uint64
	// Deliveries is how many times the message's work was attempted (HeaderDeliveries): the
	// runtime sets it to Input.Attempt, the attempts across every copy of the message, not the
	// delivery count of the last copy; the advisory catcher sets it to the server's count.
	Deliveries uint64
	Header     nats.Header
	Data       []byte
	FailedAt   time.Time
}

// MsgID is the dead letter's Nats-Msg-Id. It depends only on where the original was stored, so
// the runtime and the advisory catcher of every replica produce the same id and it lands once.
func (d DeadLetter) MsgID() string {
	return "dlq:" + d.Stream + ":" + strconv.FormatUint(d.Sequence, 10)
}

// maxReasonBytes bounds the error text in a dead letter; handler errors can quote whole bodies.
const maxReasonBytes = 2048

// natsHeaderPrefix marks server instructions (Nats-Msg-Id, Nats-Expected-*, Nats-TTL,
// Nats-Schedule*, Nats-Rollup...). They must not apply to the copy: an expectation would make
// the dead-letter publish fail, a schedule would delay it, and the id is replaced. The original
// id is kept as Jetflow-Original-Msg-Id.
const natsHeaderPrefix = "Nats-"

// Message builds the dead letter as a NATS message for subject, no larger than maxPayload bytes
// (headers included) when maxPayload > 0. Priority when it must shrink: the original payload
// and the Jetflow-* headers are kept, the reason is cut, then the original's own headers are
// dropped, and only as a last resort the payload is truncated (marked with
// Jetflow-Payload-Truncated = original size).
func (d DeadLetter) Message(subject string, maxPayload int) *nats.Msg {
	reason := d.Reason
	if len(reason) > maxReasonBytes {
		reason = reason[:maxReasonBytes] + "…"
	}
	build := func(withOriginalHeaders bool, reason string, data []byte) *nats.Msg {
		h := nats.Header{}
		if withOriginalHeaders {
			h = withoutServerHeaders(d.Header)
			if id := d.Header.Get(jetstream.MsgIDHeader); id != "" {
				h.Set(HeaderOriginalMsgID, id)
			}
		}
		h.Set(HeaderError, sanitizeHeaderValue(reason))
		h.Set(HeaderErrorKind, d.Kind)
		h.Set(HeaderStage, d.Stage)
		h.Set(HeaderOriginalSubject, d.OriginalSubject)
		h.Set(HeaderOriginalStream, d.Stream)
		h.Set(HeaderStreamSeq, strconv.FormatUint(d.Sequence, 10))
		h.Set(HeaderDeliveries, strconv.FormatUint(d.Deliveries, 10))
		h.Set(HeaderFailedAt, d.FailedAt.UTC().Format(time.RFC3339Nano))
		h.Set(jetstream.MsgIDHeader, d.MsgID())
		return &nats.Msg{Subject: subject, Header: h, Data: data}
	}
	msg := build(true, reason, d.Data)
	if maxPayload <= 0 || msgSize(msg) <= maxPayload {
		return msg
	}
	if len(reason) > 256 {
		reason = reason[:256] + "…"
	}
	if msg = build(true, reason, d.Data); msgSize(msg) <= maxPayload {
		return msg
	}
	if msg = build(false, reason, d.Data); msgSize(msg) <= maxPayload {
		return msg
	}
	msg.Header.Set(HeaderPayloadTruncated, strconv.Itoa(len(d.Data)))
	room := maxPayload - headerSize(msg.Header) - 64
	if room < 0 {
		room = 0
	}
	if room < len(d.Data) {
		msg.Data = d.Data[:room]
	}
	return msg
}

// withoutServerHeaders copies h without its Nats-* headers, for a message republished as a copy
// of another (a dead letter, a requeued copy).
func withoutServerHeaders(h nats.Header) nats.Header {
	c := make(nats.Header, len(h)+10) // room for the headers the copy adds
	for k, v := range h {
		if !strings.HasPrefix(k, natsHeaderPrefix) {
			c[k] = append([]string(nil), v...)
		}
	}
	return c
}

func msgSize(m *nats.Msg) int { return len(m.Data) + headerSize(m.Header) }

// headerSize is the size of the header block on the wire ("NATS/1.0\r\n", "K: V\r\n" lines,
// a closing "\r\n").
func headerSize(h nats.Header) int {
	n := len("NATS/1.0\r\n") + 2
	for k, vs := range h {
		for _, v := range vs {
			n += len(k) + 2 + len(v) + 2
		}
	}
	return n
}

// sanitizeHeaderValue keeps an error text on one header line.
func sanitizeHeaderValue(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' {
			return ' '
		}
		return r
	}, s)
}

// publishDeadLetter publishes d to its stage's dead-letter subject and waits for the publish ack.
// It reads the server's max payload from the connection each time: a reconnect may reach a
// server with another limit.
func publishDeadLetter(ctx context.Context, js jetstream.JetStream, d DeadLetter) error {
	maxPayload := 0
	if nc := js.Conn(); nc != nil {
		maxPayload = int(nc.MaxPayload())
	}
	msg := d.Message(streams.DeadLetterSubject(d.Stage), maxPayload)
	if _, err := js.PublishMsg(ctx, msg); err != nil {
		return fmt.Errorf("publishing dead letter %s to %s: %w", d.MsgID(), msg.Subject, err)
	}
	return nil
}
