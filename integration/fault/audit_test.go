package fault

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetflow-dev/jetflow/internal/stage"
	"github.com/jetflow-dev/jetflow/streams"
)

// AuditSpec says what to count for a set of requests.
type AuditSpec struct {
	// Kind is the result kind (streams.ResultKindChat...): results are on ai.result.<Kind>.<id>.
	Kind string
	// IDs are the request ids published (Producer.Published).
	IDs []string
	// Final tells the one message of a result that completes it, for kinds that answer in
	// several messages (tts's chunks: the one with last set). Nil means every message on the
	// result subject is a whole result.
	Final func(m *jetstream.RawStreamMsg) bool
}

// Audit is, for every request id, how many results and dead letters the streams hold.
type Audit struct {
	Spec        AuditSpec
	Results     map[string]int
	DeadLetters map[string]int
	// Reasons holds each dead-lettered id's Jetflow-Error values.
	Reasons map[string][]string
	// Unattributed counts dead letters that carry no request id at all (neither header).
	Unattributed int
	// Foreign counts dead letters of requests outside Spec.IDs (another kind's, in a scenario
	// that audits several kinds); they are not judged here.
	Foreign int
}

// Missing are the ids with neither a result nor a dead letter.
func (a *Audit) Missing() []string {
	var out []string
	for _, id := range a.Spec.IDs {
		if a.Results[id]+a.DeadLetters[id] == 0 {
			out = append(out, id)
		}
	}
	return out
}

// Duplicated are the ids with more than one outcome: two results (even under different
// Nats-Msg-Ids), two dead letters, or a result and a dead letter.
func (a *Audit) Duplicated() []string {
	var out []string
	for _, id := range a.Spec.IDs {
		if a.Results[id]+a.DeadLetters[id] > 1 {
			out = append(out, id)
		}
	}
	return out
}

// DeadLettered are the ids with a dead letter.
func (a *Audit) DeadLettered() []string {
	var out []string
	for _, id := range a.Spec.IDs {
		if a.DeadLetters[id] > 0 {
			out = append(out, id)
		}
	}
	return out
}

func (a *Audit) String() string {
	return fmt.Sprintf("%d requests: %d missing %s, %d duplicated %s, %d dead-lettered %s, %d unattributed dead letters",
		len(a.Spec.IDs), len(a.Missing()), short(a.Missing()), len(a.Duplicated()), short(a.Duplicated()),
		len(a.DeadLettered()), short(a.DeadLettered()), a.Unattributed)
}

func short(ids []string) string {
	if len(ids) > 10 {
		return fmt.Sprint(ids[:10]) + "..."
	}
	return fmt.Sprint(ids)
}

// ReadAudit reads AI_RESULTS and AI_DLQ once. A dead letter is attributed by its
// Jetflow-Request-Id header (the producer sets it and every stage's output repeats it), else by
// Jetflow-Original-Msg-Id.
func ReadAudit(ctx context.Context, js jetstream.JetStream, spec AuditSpec) (*Audit, error) {
	// A read that meets a server going away gives up, and the caller reads again.
	ctx, cancel := context.WithTimeout(ctx, readTimeout)
	defer cancel()
	a := &Audit{Spec: spec, Results: map[string]int{}, DeadLetters: map[string]int{}, Reasons: map[string][]string{}}
	known := map[string]bool{}
	for _, id := range spec.IDs {
		known[id] = true
	}
	prefix := streams.ResultSubject(spec.Kind, "")
	err := scan(ctx, js, streams.StreamResults, func(m *jetstream.RawStreamMsg) {
		id, ok := strings.CutPrefix(m.Subject, prefix)
		if !ok || (spec.Final != nil && !spec.Final(m)) {
			return
		}
		a.Results[id]++
	})
	if err != nil {
		return nil, err
	}
	err = scan(ctx, js, streams.StreamDeadLetter, func(m *jetstream.RawStreamMsg) {
		id := m.Header.Get(stage.HeaderRequestID)
		if id == "" || !known[id] {
			if orig := m.Header.Get(stage.HeaderOriginalMsgID); orig != "" {
				id = orig
			}
		}
		switch {
		case id == "":
			a.Unattributed++
			return
		case !known[id]:
			a.Foreign++
			return
		}
		a.DeadLetters[id]++
		a.Reasons[id] = append(a.Reasons[id], m.Header.Get(stage.HeaderError))
	})
	if err != nil {
		return nil, err
	}
	return a, nil
}

// readTimeout bounds one audit read.
const readTimeout = 30 * time.Second

// scan calls f for every message stream holds, oldest first.
func scan(ctx context.Context, js jetstream.JetStream, stream string, f func(*jetstream.RawStreamMsg)) error {
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return fmt.Errorf("looking up stream %s: %w", stream, err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		return fmt.Errorf("reading stream %s: %w", stream, err)
	}
	for seq := info.State.FirstSeq; info.State.Msgs > 0 && seq <= info.State.LastSeq; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			return fmt.Errorf("reading %s seq %d: %w", stream, seq, err)
		}
		f(m)
	}
	return nil
}

// AwaitAudit waits, up to within, until every id has an outcome and the consumers named in
// drained (stream/consumer pairs, such as "AI_CHAT/chat-generate") have nothing pending or
// unacknowledged, so that no redelivery can still add a duplicate; then it reads the audit once
// more and returns it. It does not judge the audit: Require does.
func AwaitAudit(t *testing.T, ctx context.Context, js jetstream.JetStream, spec AuditSpec, within time.Duration, drained ...string) *Audit {
	t.Helper()
	deadline := time.Now().Add(within)
	var last error
	for {
		last = func() error {
			a, err := ReadAudit(ctx, js, spec)
			if err != nil {
				return err
			}
			if m := a.Missing(); len(m) > 0 {
				return fmt.Errorf("%d of %d requests have no outcome yet %s", len(m), len(spec.IDs), short(m))
			}
			return Drained(ctx, js, drained...)
		}()
		if last == nil {
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			a, err := ReadAudit(ctx, js, spec)
			if err != nil {
				t.Fatalf("not complete within %v (%v), and the audit cannot be read: %v", within, last, err)
			}
			t.Errorf("not complete within %v: %v", within, last)
			return a
		}
		time.Sleep(250 * time.Millisecond) // polling the streams
	}
	a, err := ReadAudit(ctx, js, spec)
	if err != nil {
		t.Fatalf("reading the audit: %v", err)
	}
	return a
}

// Drained returns nil when every consumer named ("STREAM/consumer") has no message pending and
// none delivered but unacknowledged.
func Drained(ctx context.Context, js jetstream.JetStream, consumers ...string) error {
	for _, name := range consumers {
		stream, durable, ok := strings.Cut(name, "/")
		if !ok {
			return fmt.Errorf("consumer %q is not STREAM/name", name)
		}
		info, err := ConsumerInfo(ctx, js, stream, durable)
		if err != nil {
			return err
		}
		if info.NumPending > 0 || info.NumAckPending > 0 {
			return fmt.Errorf("consumer %s: %d pending, %d unacknowledged", name, info.NumPending, info.NumAckPending)
		}
	}
	return nil
}

// ConsumerInfo reads a consumer's state (num_redelivered, pending...).
func ConsumerInfo(ctx context.Context, js jetstream.JetStream, stream, consumer string) (*jetstream.ConsumerInfo, error) {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	c, err := js.Consumer(ctx, stream, consumer)
	if err != nil {
		return nil, fmt.Errorf("looking up consumer %s > %s: %w", stream, consumer, err)
	}
	info, err := c.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading consumer %s > %s: %w", stream, consumer, err)
	}
	return info, nil
}

// Require fails the test unless no request is missing, none has more than one outcome, no dead
// letter lacks a request id, and exactly wantDeadLettered ids (in any order) were dead-lettered
// (nil: none).
func (a *Audit) Require(t *testing.T, wantDeadLettered []string) {
	t.Helper()
	if m := a.Missing(); len(m) > 0 {
		t.Errorf("lost: %d requests have neither a result nor a dead letter: %v", len(m), short(m))
	}
	for _, id := range a.Duplicated() {
		t.Errorf("duplicated: request %s has %d results and %d dead letters %q", id, a.Results[id], a.DeadLetters[id], a.Reasons[id])
	}
	if a.Unattributed > 0 {
		t.Errorf("%d dead letters carry no request id", a.Unattributed)
	}
	got := a.DeadLettered()
	want := slices.Clone(wantDeadLettered)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		for _, id := range got {
			if !slices.Contains(want, id) {
				t.Errorf("dead-lettered: request %s: %q", id, a.Reasons[id])
			}
		}
		for _, id := range want {
			if !slices.Contains(got, id) {
				t.Errorf("request %s was not dead-lettered (results %d)", id, a.Results[id])
			}
		}
	}
}

// Outcomes is the number of messages AI_RESULTS and AI_DLQ hold together: a cheap measure of
// progress, for timing faults against it and for the time to recover.
func Outcomes(ctx context.Context, js jetstream.JetStream) (uint64, error) {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	var n uint64
	for _, name := range []string{streams.StreamResults, streams.StreamDeadLetter} {
		s, err := js.Stream(ctx, name)
		if err != nil {
			return 0, fmt.Errorf("looking up stream %s: %w", name, err)
		}
		info, err := s.Info(ctx)
		if err != nil {
			return 0, fmt.Errorf("reading stream %s: %w", name, err)
		}
		n += info.State.Msgs
	}
	return n, nil
}

// WaitProgress waits until Outcomes exceeds from and returns how long that took: the time to
// recover when called right after a fault ends. It fails the test after within.
func WaitProgress(t *testing.T, ctx context.Context, js jetstream.JetStream, from uint64, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		n, err := Outcomes(ctx, js)
		if err == nil && n > from {
			return time.Since(start)
		}
		if time.Since(start) > within || ctx.Err() != nil {
			t.Fatalf("no progress within %v after the fault (outcomes %d, %v)", within, n, err)
		}
		time.Sleep(50 * time.Millisecond) // polling the streams
	}
}
