package deadletters

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetflow-dev/jetflow/streams"
)

// FetchWait bounds the wait for the next letter of a read whose range holds no more.
const FetchWait = 5 * time.Second

// Stream opens AI_DLQ with an error that says what to do when it is missing.
func Stream(ctx context.Context, js jetstream.JetStream) (jetstream.Stream, error) {
	s, err := js.Stream(ctx, streams.StreamDeadLetter)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, fmt.Errorf("stream %s does not exist on this server: create the streams with jetflow streams apply", streams.StreamDeadLetter)
	}
	if err != nil {
		return nil, fmt.Errorf("opening stream %s: %w", streams.StreamDeadLetter, err)
	}
	return s, nil
}

// Read calls visit with every letter sel chooses, in sequence order. It reads AI_DLQ with
// an ordered consumer filtered to the selected stages, from the lowest selected sequence (or
// the --since time), and stops at the last letter that was stored when it started, so that
// letters dead-lettered meanwhile (a replay that fails again) are not read in the same pass.
// Only headers are read: a letter's payload is fetched by Get when it is needed, so a
// selection of thousands of letters is not held in memory (Letter.Size says the payload's size).
func Read(ctx context.Context, js jetstream.JetStream, sel Selection, visit func(Letter) error) error {
	stream, err := Stream(ctx, js)
	if err != nil {
		return err
	}
	info, err := stream.Info(ctx, jetstream.WithSubjectFilter(streams.SubjectDeadLetterAll))
	if err != nil {
		return fmt.Errorf("reading the state of %s: %w", streams.StreamDeadLetter, err)
	}
	var candidates uint64
	for _, subject := range sel.Subjects() {
		if subject == streams.SubjectDeadLetterAll {
			candidates = info.State.Msgs
			break
		}
		candidates += info.State.Subjects[subject]
	}
	lo, hi := sel.Bounds()
	hi = min(hi, info.State.LastSeq)
	if candidates == 0 || lo > hi {
		return nil
	}
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: sel.Subjects(), HeadersOnly: true}
	switch {
	case lo > 1:
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, lo
	case !sel.Since.IsZero():
		// Stored times follow the dead-lettering times closely; a minute of slack covers a
		// letter whose publish was retried.
		start := sel.Since.Add(-time.Minute)
		cfg.DeliverPolicy, cfg.OptStartTime = jetstream.DeliverByStartTimePolicy, &start
	}
	cons, err := stream.OrderedConsumer(ctx, cfg)
	if err != nil {
		return fmt.Errorf("reading %s: %w", streams.StreamDeadLetter, err)
	}
	it, err := cons.Messages()
	if err != nil {
		return fmt.Errorf("reading %s: %w", streams.StreamDeadLetter, err)
	}
	defer it.Stop()
	if info := cons.CachedInfo(); info != nil && info.NumPending == 0 {
		return nil // the selected stages have letters, but none from the start point on
	}
	for {
		// The checks above say a letter is there; the wait only ends a read whose range holds
		// none of them.
		waitCtx, cancel := context.WithTimeout(ctx, FetchWait)
		msg, err := it.Next(jetstream.NextContext(waitCtx))
		cancel()
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading %s: %w", streams.StreamDeadLetter, err)
		}
		meta, err := msg.Metadata()
		if err != nil {
			return fmt.Errorf("reading %s: %w", streams.StreamDeadLetter, err)
		}
		seq := meta.Sequence.Stream
		if seq > hi {
			return nil
		}
		l := NewLetter(seq, msg.Subject(), meta.Timestamp, msg.Headers(), msg.Data())
		if sel.Match(l) {
			if err := visit(l); err != nil {
				return err
			}
		}
		if seq == hi || meta.NumPending == 0 {
			return nil
		}
	}
}

// Get reads one letter by its AI_DLQ sequence.
func Get(ctx context.Context, js jetstream.JetStream, seq uint64) (Letter, error) {
	stream, err := Stream(ctx, js)
	if err != nil {
		return Letter{}, err
	}
	return GetFrom(ctx, stream, seq)
}

// GetFrom reads one letter by its sequence from stream (AI_DLQ, opened by Stream), for a caller
// reading several: Get asks for the stream's info each time.
func GetFrom(ctx context.Context, stream jetstream.Stream, seq uint64) (Letter, error) {
	raw, err := stream.GetMsg(ctx, seq)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return Letter{}, fmt.Errorf("no dead letter %d in %s: list them with jetflow dlq ls", seq, streams.StreamDeadLetter)
	}
	if err != nil {
		return Letter{}, fmt.Errorf("reading dead letter %d: %w", seq, err)
	}
	return NewLetter(raw.Sequence, raw.Subject, raw.Time, raw.Header, raw.Data), nil
}

func seqKey(seq uint64) string { return strconv.FormatUint(seq, 10) }
