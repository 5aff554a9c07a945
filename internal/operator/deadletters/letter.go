package deadletters

import (
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/jetflow-dev/jetflow/internal/stage"
	"github.com/jetflow-dev/jetflow/streams"
)

// Letter is one dead letter of AI_DLQ, with its dead-letter headers read.
type Letter struct {
	Seq     uint64 // its sequence in AI_DLQ: how an operator names it
	Subject string // ai.dlq.<stage>
	Stored  time.Time
	Header  nats.Header
	// Data is the payload, empty when only the headers were read (Read).
	Data []byte
	// Size is the payload's size in bytes.
	Size int

	Stage           string
	Kind            string
	Reason          string
	OriginalSubject string
	OriginalStream  string
	OriginalSeq     uint64
	Deliveries      uint64
	// FailedAt is the dead-lettering time the runtime wrote, or Stored when it is missing.
	FailedAt time.Time
	// Truncated is set when the runtime had to cut the payload to fit the server's max payload:
	// such a letter cannot be replayed.
	Truncated bool
}

// NewLetter reads the dead-letter headers of a message stored in AI_DLQ.
func NewLetter(seq uint64, subject string, stored time.Time, h nats.Header, data []byte) Letter {
	if h == nil {
		h = nats.Header{}
	}
	l := Letter{
		Seq: seq, Subject: subject, Stored: stored, Header: h, Data: data,
		Stage:           h.Get(stage.HeaderStage),
		Kind:            h.Get(stage.HeaderErrorKind),
		Reason:          h.Get(stage.HeaderError),
		OriginalSubject: h.Get(stage.HeaderOriginalSubject),
		OriginalStream:  h.Get(stage.HeaderOriginalStream),
		Truncated:       h.Get(stage.HeaderPayloadTruncated) != "",
		FailedAt:        stored,
		Size:            len(data),
	}
	if n, err := strconv.Atoi(h.Get(nats.MsgSize)); err == nil && len(data) == 0 {
		l.Size = n // a headers-only read says the size here
	}
	if l.Stage == "" {
		l.Stage, _ = strings.CutPrefix(subject, strings.TrimSuffix(streams.SubjectDeadLetterAll, ">"))
	}
	l.OriginalSeq, _ = strconv.ParseUint(h.Get(stage.HeaderStreamSeq), 10, 64)
	l.Deliveries, _ = strconv.ParseUint(h.Get(stage.HeaderDeliveries), 10, 64)
	if t, err := time.Parse(time.RFC3339Nano, h.Get(stage.HeaderFailedAt)); err == nil {
		l.FailedAt = t
	}
	return l
}

// ID is the letter's Nats-Msg-Id as the runtime wrote it (dlq:<stream>:<seq> of the original).
// A replay record keeps it, so a record is never taken for another letter that reuses its
// sequence (after AI_DLQ was deleted and created again).
func (l Letter) ID() string { return l.Header.Get(nats.MsgIdHdr) }

// Ref names the letter in a Jetflow-Replayed-From header: "AI_DLQ:<seq>".
func (l Letter) Ref() string { return streams.StreamDeadLetter + ":" + strconv.FormatUint(l.Seq, 10) }

// RequestID is the request id of the failed message, when its publisher said it.
func (l Letter) RequestID() string { return l.Header.Get(stage.HeaderRequestID) }
