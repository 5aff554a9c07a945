package streams_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetflow-dev/jetflow/internal/devkit/jstest"
	"github.com/jetflow-dev/jetflow/internal/devkit/testplatform"
	"github.com/jetflow-dev/jetflow/streams"
)

// maxDeliverAdvisory is the server's io.nats.jetstream.advisory.v1.max_deliver event.
type maxDeliverAdvisory struct {
	Type       string `json:"type"`
	Stream     string `json:"stream"`
	Consumer   string `json:"consumer"`
	StreamSeq  uint64 `json:"stream_seq"`
	Deliveries uint64 `json:"deliveries"`
}

// TestMaxDeliveriesAdvisoryLandsInStream proves that AI_ADVISORIES can capture the server's
// advisory subject and receives a real MAX_DELIVERIES advisory after the worker that took the
// message is gone: the poison message's worker disconnects without acking, nobody subscribes
// to advisories, and the advisory still waits in the stream for dead-letter-advisories.
func TestMaxDeliveriesAdvisoryLandsInStream(t *testing.T) {
	p := testplatform.New(t)
	js, ctx := p.JS, p.Ctx

	// A throwaway stage: one delivery, short ack wait, so it gives up quickly.
	const stream, consumer = "POISON_TEST", "poison"
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: stream, Subjects: []string{"poison.>"}, Retention: jetstream.WorkQueuePolicy}); err != nil {
		t.Fatalf("creating test stream: %v", err)
	}
	if _, err := js.CreateConsumer(ctx, stream, jetstream.ConsumerConfig{
		Durable: consumer, AckPolicy: jetstream.AckExplicitPolicy, MaxDeliver: 1, AckWait: 200 * time.Millisecond,
	}); err != nil {
		t.Fatalf("creating test consumer: %v", err)
	}
	ack, err := js.Publish(ctx, "poison.msg", []byte("crashes the worker"))
	if err != nil {
		t.Fatalf("publishing: %v", err)
	}

	workerConn, workerJS := jstest.Connect(t, p.Server)
	c, err := workerJS.Consumer(ctx, stream, consumer)
	if err != nil {
		t.Fatalf("binding consumer: %v", err)
	}
	batch, err := c.Fetch(1, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatalf("fetching: %v", err)
	}
	if _, ok := <-batch.Messages(); !ok {
		t.Fatalf("no message delivered: %v", batch.Error())
	}
	workerConn.Close() // the worker "crashes": no ack, no nak, no dead letter of its own

	advisories, err := js.Consumer(ctx, streams.StreamAdvisories, streams.ConsumerDeadLetterAdvisories)
	if err != nil {
		t.Fatalf("binding %s: %v", streams.ConsumerDeadLetterAdvisories, err)
	}
	var msg jetstream.Msg
	jstest.Eventually(t, 10*time.Second, 50*time.Millisecond, func() error {
		b, err := advisories.FetchNoWait(1)
		if err != nil {
			return err
		}
		for m := range b.Messages() {
			msg = m
		}
		if msg == nil {
			return jstest.Errorf("no advisory in %s yet (%v)", streams.StreamAdvisories, b.Error())
		}
		return nil
	})

	if want := streams.AdvisoryMaxDeliveriesSubject(stream, consumer); msg.Subject() != want {
		t.Errorf("advisory subject %q, want %q", msg.Subject(), want)
	}
	var adv maxDeliverAdvisory
	if err := json.Unmarshal(msg.Data(), &adv); err != nil {
		t.Fatalf("decoding advisory %s: %v", msg.Data(), err)
	}
	want := maxDeliverAdvisory{
		Type: "io.nats.jetstream.advisory.v1.max_deliver", Stream: stream, Consumer: consumer,
		StreamSeq: ack.Sequence, Deliveries: 1,
	}
	if adv != want {
		t.Errorf("advisory %+v, want %+v", adv, want)
	}
	if err := msg.DoubleAck(ctx); err != nil {
		t.Fatalf("acking advisory: %v", err)
	}
	// The poison message itself stays in its work-queue stream for the dead-letterer to copy.
	s, err := js.Stream(ctx, stream)
	if err != nil {
		t.Fatalf("reading test stream: %v", err)
	}
	if _, err := s.GetMsg(ctx, adv.StreamSeq); err != nil {
		t.Errorf("poison message %d is gone from %s: %v", adv.StreamSeq, stream, err)
	}
}
