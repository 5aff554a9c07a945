package stage

import (
	"bytes"
	"context"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/jetflow-dev/jetflow/internal/devkit/jstest"
	"github.com/jetflow-dev/jetflow/internal/failure"
	"github.com/jetflow-dev/jetflow/internal/telemetry"
	jetflowv1 "github.com/jetflow-dev/jetflow/proto/jetflow/v1"
)

// An output published to a subject that no stream captures yet gets "no responders", and the
// JetStream client sends the same *nats.Msg again after its retry wait (250 ms, twice): its
// encode buffer must not be reused before the publish ack, or the resend carries whatever was
// encoded into it since. The late outputs here wait for their stream while their own worker
// encodes the next ones and the other workers encode outputs of their own; every stored output
// must still be byte for byte what its handler returned.
func TestOutputResentAfterNoRespondersIsIntact(t *testing.T) {
	e := newEnv(t, envOpts{})
	const lateInputs, lateOutputs, fillers, fillerOutputs = 4, 6, 24, 5
	// Every late output has the same size, so that each fits the buffer of another.
	late := func(i, j int) []byte {
		b := make([]byte, 4096)
		for k := range b {
			b[k] = byte(i*31 + j*7 + k)
		}
		return b
	}
	filler := func(i, j int) []byte {
		b := make([]byte, 1+(i*7919+j*104729)%4096)
		for k := range b {
			b[k] = byte(128 + i*3 + j*5 + k)
		}
		return b
	}
	for i := range lateInputs {
		e.publish("work.late."+strconv.Itoa(i), wrapperspb.String("late"))
	}
	for i := range fillers {
		e.publish("work.fill."+strconv.Itoa(i), wrapperspb.String("fill"))
	}

	// The stage has a JetStream context of its own, for its count of pending publishes, on the
	// test's connection: the late outputs' first sends reach the server before the request that
	// creates their stream.
	stageJS, err := jetstream.New(e.nc)
	if err != nil {
		t.Fatal(err)
	}
	var lateCalls counter
	release := make(chan struct{})
	cfg := e.cfg()
	cfg.Concurrency = lateInputs + 4
	e.runOn(stageJS, cfg, Typed(func(ctx context.Context, _ *wrapperspb.StringValue, in *Input) ([]Output, error) {
		parts := strings.Split(in.Subject, ".")
		i, err := strconv.Atoi(parts[2])
		if err != nil {
			return nil, failure.Permanent(err)
		}
		if parts[1] == "late" {
			lateCalls.add(parts[2])
			outs := make([]Output, lateOutputs)
			for j := range outs {
				outs[j] = Output{Subject: fmt.Sprintf("late.%d.%d", i, j), Msg: wrapperspb.Bytes(late(i, j))}
			}
			return outs, nil
		}
		select {
		case <-release: // the late outputs are waiting for their resend
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		outs := make([]Output, fillerOutputs)
		for j := range outs {
			outs[j] = Output{Subject: fmt.Sprintf("out.%d.%d", i, j), Msg: wrapperspb.Bytes(filler(i, j))}
		}
		return outs, nil
	}))

	jstest.Eventually(t, 10*time.Second, time.Millisecond, func() error {
		if n := stageJS.PublishAsyncPending(); n != lateInputs*lateOutputs {
			return fmt.Errorf("%d publishes pending, want the %d late outputs", n, lateInputs*lateOutputs)
		}
		return nil
	})
	close(release)
	e.mustStream(jetstream.StreamConfig{Name: "LATE", Subjects: []string{"late.>"}})

	check := func(m *jetstream.RawStreamMsg, want func(i, j int) []byte) {
		t.Helper()
		parts := strings.Split(m.Subject, ".")
		i, errI := strconv.Atoi(parts[1])
		j, errJ := strconv.Atoi(parts[2])
		if errI != nil || errJ != nil {
			t.Fatalf("output subject %q", m.Subject)
		}
		var got wrapperspb.BytesValue
		if err := proto.Unmarshal(m.Data, &got); err != nil || !bytes.Equal(got.GetValue(), want(i, j)) {
			t.Errorf("%s: %d bytes that differ from the %d the handler returned (%v)", m.Subject, len(got.GetValue()), len(want(i, j)), err)
		}
	}
	for _, m := range e.waitCount("LATE", lateInputs*lateOutputs) {
		check(m, late)
	}
	for _, m := range e.waitCount("OUT", fillers*fillerOutputs) {
		check(m, filler)
	}
	e.waitCount("WORK", 0)
	// Handled once: the stored late outputs are the resent messages, not a redelivery's.
	for i := range lateInputs {
		if n := lateCalls.get(strconv.Itoa(i)); n != 1 {
			t.Errorf("late input %d handled %d times, want 1: its outputs were not stored by a resend", i, n)
		}
	}
}

// BuildOutput builds, for an output with an ID, the very message the runtime publishes.
func TestBuildOutputMatchesWhatTheRuntimePublishes(t *testing.T) {
	e := newEnv(t, envOpts{})
	out := func(name string) Output {
		return Output{
			Subject: "out." + name, ID: "r-1." + name, Header: nats.Header{"X-Extra": {"1"}},
			Msg: &jetflowv1.TtsAudioChunk{RequestId: "r-1", Audio: []byte("pcm"), Last: true},
		}
	}
	e.run(e.cfg(), HandlerFunc(func(_ context.Context, in *Input) ([]Output, error) {
		return []Output{out(strings.TrimPrefix(in.Subject, "work."))}, nil
	}))
	const traceparent = "00-0102030405060708090a0b0c0d0e0f10-0102030405060708-01"
	for i, asJSON := range []bool{false, true} {
		name := "chunk-" + strconv.Itoa(i)
		t.Run(fmt.Sprintf("json=%v", asJSON), func(t *testing.T) {
			hdr := []string{"traceparent", traceparent}
			if asJSON {
				hdr = append(hdr, HeaderContentType, "application/json")
			}
			e.publishRaw("work."+name, []byte("input"), hdr...)
			stored := e.waitCount("OUT", i+1)[i]
			ctx := telemetry.Extract(context.Background(), nats.Header{"traceparent": {traceparent}})
			built, err := BuildOutput(ctx, "work", out(name), asJSON)
			if err != nil {
				t.Fatal(err)
			}
			if built.Subject != stored.Subject || !bytes.Equal(built.Data, stored.Data) || !reflect.DeepEqual(built.Header, stored.Header) {
				t.Fatalf("built %s %v %q,\nruntime published %s %v %q", built.Subject, built.Header, built.Data, stored.Subject, stored.Header, stored.Data)
			}
			if built.Header.Get(jetstream.MsgIDHeader) != "work:r-1."+name || built.Header.Get(HeaderRequestID) != "r-1" || built.Header.Get("traceparent") != traceparent {
				t.Errorf("built headers %v lack the output id, the request id or the trace context", built.Header)
			}
		})
	}
	noID := out("x")
	noID.ID = ""
	if _, err := BuildOutput(context.Background(), "work", noID, false); err == nil {
		t.Fatal("BuildOutput without an ID succeeded")
	}
}

// An output without a subject or without a message is a bug in the handler, which no retry
// fixes: the input is dead-lettered at once, with a reason that says so.
func TestOutputWithoutSubjectOrMessageIsDeadLetteredAtOnce(t *testing.T) {
	e := newEnv(t, envOpts{maxDeliver: 5})
	var calls counter
	e.run(e.cfg(), Typed(func(ctx context.Context, msg *wrapperspb.StringValue, in *Input) ([]Output, error) {
		calls.add(msg.GetValue())
		switch msg.GetValue() {
		case "no-subject":
			return []Output{{Msg: msg}}, nil
		case "no-message":
			return []Output{{Subject: "out.no-message"}}, nil
		}
		return []Output{{Subject: "out." + msg.GetValue(), Msg: msg}}, nil
	}))
	noSubject := e.publish("work.no-subject", wrapperspb.String("no-subject"))
	noMessage := e.publish("work.no-message", wrapperspb.String("no-message"))
	e.publish("work.good", wrapperspb.String("good"))

	dls := e.waitCount("DLQ", 2)
	for _, w := range []deadLetterWant{
		{subject: "ai.dlq.work", kind: KindPermanent, reasonHas: "invalid output: it has no subject", originalSubject: "work.no-subject", seq: noSubject, deliveries: 1},
		{subject: "ai.dlq.work", kind: KindPermanent, reasonHas: "invalid output: it has no message", originalSubject: "work.no-message", seq: noMessage, deliveries: 1},
	} {
		var dl *jetstream.RawStreamMsg
		for _, m := range dls {
			if m.Header.Get(HeaderOriginalSubject) == w.originalSubject {
				dl = m
			}
		}
		if dl == nil {
			t.Fatalf("no dead letter for %s", w.originalSubject)
		}
		checkDeadLetter(t, dl, w)
		if n := calls.get(strings.TrimPrefix(w.originalSubject, "work.")); n != 1 {
			t.Errorf("%s handled %d times, want 1", w.originalSubject, n)
		}
	}
	if out := e.waitCount("OUT", 1); out[0].Subject != "out.good" {
		t.Fatalf("output on %s, want out.good", out[0].Subject)
	}
	e.waitCount("WORK", 0)
}
