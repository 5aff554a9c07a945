package stage

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetflow-dev/jetflow/internal/devkit/jstest"
	"github.com/jetflow-dev/jetflow/internal/failure"
)

// A worker that dies on a message every time never gets to dead-letter it; the server's
// max-deliveries advisory, captured in a stream, does.
func TestAdvisoryCatcherDeadLettersWhatWorkersNeverReported(t *testing.T) {
	e := newEnv(t, envOpts{ackWait: 200 * time.Millisecond, maxDeliver: 2})
	seq := e.publishRaw("work.crash", []byte("crashes the worker"), "Origin", "test")

	// The "worker": takes the message and dies (never acks) each time.
	cons, err := e.js.Consumer(e.ctx, "WORK", "work")
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		msg, err := cons.Next(jetstream.FetchMaxWait(5 * time.Second))
		if err != nil {
			t.Fatalf("delivery %d: %v", i+1, err)
		}
		if md, _ := msg.Metadata(); md.NumDelivered != uint64(i+1) {
			t.Fatalf("delivery count %d, want %d", md.NumDelivered, i+1)
		}
	}
	// The server notices the exhausted message when it next tries to deliver: a worker pulls.
	jstest.Eventually(t, 10*time.Second, 10*time.Millisecond, func() error {
		if _, err := cons.Fetch(1, jetstream.FetchMaxWait(300*time.Millisecond)); err != nil {
			return err
		}
		if n := len(e.messages("ADVISORIES")); n != 1 {
			return fmt.Errorf("ADVISORIES holds %d", n)
		}
		return nil
	})

	e.run(Config{Name: "dead-letter-advisories", Stream: "ADVISORIES", Consumer: "advisories", Backoff: []time.Duration{50 * time.Millisecond}},
		AdvisoryCatcher{JS: e.js})
	dl := e.waitCount("DLQ", 1)[0]
	checkDeadLetter(t, dl, deadLetterWant{subject: "ai.dlq.work", kind: KindMaxDeliveries, reasonHas: "crashed or hung", originalSubject: "work.crash", seq: seq, deliveries: 2})
	if string(dl.Data) != "crashes the worker" || dl.Header.Get("Origin") != "test" {
		t.Fatalf("dead letter lost the original: %q %v", dl.Data, dl.Header)
	}
	e.waitCount("ADVISORIES", 0)
	e.waitCount("WORK", 0) // removed from the work queue once copied
}

func TestAdvisoryForAMessageAlreadyGoneIsDropped(t *testing.T) {
	e := newEnv(t, envOpts{})
	c := AdvisoryCatcher{JS: e.js}
	adv := fmt.Sprintf(`{"type":%q,"stream":"WORK","consumer":"work","stream_seq":42,"deliveries":5}`, maxDeliverAdvisoryType)
	outs, err := c.Handle(e.ctx, &Input{Data: []byte(adv)})
	if err != nil || outs != nil {
		t.Fatalf("Handle = %v, %v; want nothing to do", outs, err)
	}
	if n := len(e.messages("DLQ")); n != 0 {
		t.Fatalf("DLQ holds %d", n)
	}
	if _, err := c.Handle(e.ctx, &Input{Data: []byte(`{"type":"other"}`)}); !failure.IsPermanent(err) {
		t.Fatalf("a foreign advisory must be a permanent error, got %v", err)
	}
}

// A failing message near the server's max payload still produces a dead letter: the copy is
// cut to fit, keeping every Jetflow-* header and saying how big the original was.
func TestDeadLetterOfAMessageNearMaxPayload(t *testing.T) {
	const maxPayload = 64 * 1024
	e := newEnv(t, envOpts{maxPayload: maxPayload})
	cfg := e.cfg()
	cfg.MaxPayload = 16 * 1024
	e.run(cfg, echo(&counter{}))
	big := bytes.Repeat([]byte{0xAB}, maxPayload-200)
	seq := e.publishRaw("work.big", big, "Big-Header", strings.Repeat("h", 100))
	dl := e.waitCount("DLQ", 1)[0]
	checkDeadLetter(t, dl, deadLetterWant{subject: "ai.dlq.work", kind: KindPermanent, reasonHas: "exceeds the stage limit", originalSubject: "work.big", seq: seq, deliveries: 1})
	if got := dl.Header.Get(HeaderPayloadTruncated); got != strconv.Itoa(len(big)) {
		t.Fatalf("%s = %q, want %d", HeaderPayloadTruncated, got, len(big))
	}
	if len(dl.Data) == 0 || !bytes.Equal(dl.Data, big[:len(dl.Data)]) {
		t.Fatal("the kept part of the payload must be its beginning")
	}
}

func TestDeadLetterMessageKeepsEverythingWhenItFits(t *testing.T) {
	d := DeadLetter{Stage: "s", Kind: KindPermanent, Reason: "bad\r\ninput", OriginalSubject: "a.b", Stream: "S", Sequence: 7, Deliveries: 2,
		Header: nats.Header{"X": {"1"}, jetstream.MsgIDHeader: {"orig"}, jetstream.ExpectedLastSeqHeader: {"3"}, "Nats-Schedule": {"@every 1s"}},
		Data:   []byte("payload"), FailedAt: time.Unix(0, 0)}
	m := d.Message("ai.dlq.s", 1<<20)
	if m.Header.Get(jetstream.MsgIDHeader) != "dlq:S:7" || m.Header.Get(HeaderOriginalMsgID) != "orig" {
		t.Errorf("ids: %v", m.Header)
	}
	if m.Header.Get(jetstream.ExpectedLastSeqHeader) != "" || m.Header.Get("Nats-Schedule") != "" {
		t.Errorf("server instructions of the original must not apply to the copy: %v", m.Header)
	}
	if m.Header.Get(HeaderError) != "bad  input" || m.Header.Get("X") != "1" || string(m.Data) != "payload" {
		t.Errorf("copy lost something: %v %q", m.Header, m.Data)
	}
}

type deadLetterWant struct {
	subject, kind, reasonHas, originalSubject string
	seq, deliveries                           uint64
}

func checkDeadLetter(t *testing.T, dl *jetstream.RawStreamMsg, w deadLetterWant) {
	t.Helper()
	if dl.Subject != w.subject {
		t.Errorf("dead letter on %s, want %s", dl.Subject, w.subject)
	}
	h := dl.Header
	checks := map[string]string{
		HeaderErrorKind:       w.kind,
		HeaderOriginalSubject: w.originalSubject,
		HeaderOriginalStream:  "WORK",
		HeaderStreamSeq:       strconv.FormatUint(w.seq, 10),
		HeaderDeliveries:      strconv.FormatUint(w.deliveries, 10),
		HeaderStage:           "work",
		jetstream.MsgIDHeader: "dlq:WORK:" + strconv.FormatUint(w.seq, 10),
	}
	for k, want := range checks {
		if got := h.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if !strings.Contains(h.Get(HeaderError), w.reasonHas) {
		t.Errorf("%s = %q, want it to contain %q", HeaderError, h.Get(HeaderError), w.reasonHas)
	}
	if _, err := time.Parse(time.RFC3339Nano, h.Get(HeaderFailedAt)); err != nil {
		t.Errorf("%s: %v", HeaderFailedAt, err)
	}
}
