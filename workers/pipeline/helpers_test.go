package pipeline

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynfake "k8s.io/client-go/dynamic/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/jetflow-dev/jetflow/internal/devkit/jstest"
	"github.com/jetflow-dev/jetflow/internal/devkit/testplatform"
	"github.com/jetflow-dev/jetflow/internal/stage"
	"github.com/jetflow-dev/jetflow/internal/worker"
	jetflowv1 "github.com/jetflow-dev/jetflow/proto/jetflow/v1"
	"github.com/jetflow-dev/jetflow/streams"
)

const testNamespace = "ml"

// harness is one test's broker: a real embedded JetStream server with every stream and
// consumer of streams/ applied.
type harness struct {
	t   *testing.T
	js  jetstream.JetStream
	ctx context.Context
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	p := testplatform.New(t)
	return &harness{t: t, js: p.JS, ctx: p.Ctx}
}

// runLocks opens the KFP run-name lock bucket streams/ defines.
func (h *harness) runLocks() jetstream.KeyValue {
	h.t.Helper()
	kv, err := h.js.KeyValue(h.ctx, RunsBucket)
	if err != nil {
		h.t.Fatalf("opening bucket %s: %v", RunsBucket, err)
	}
	return kv
}

// testSettings poll fast and retry fast.
func testSettings() Settings {
	return Settings{
		ArgoNamespace: testNamespace,
		PollInterval:  20 * time.Millisecond,
		CallTimeout:   2 * time.Second,
		Concurrency:   8,
		GracePeriod:   time.Second,
		Backoff:       []time.Duration{50 * time.Millisecond},
	}
}

// start runs the bridge's stage until the end of the test.
func (h *harness) start(b *Bridge) {
	h.t.Helper()
	st, err := worker.NewStage(h.js, b.Spec())
	if err != nil {
		h.t.Fatalf("building the stage: %v", err)
	}
	jstest.Run(h.t, h.ctx, st.Run)
}

func (h *harness) publish(trig *jetflowv1.PipelineTrigger, msgID string) uint64 {
	h.t.Helper()
	data, err := proto.Marshal(trig)
	if err != nil {
		h.t.Fatal(err)
	}
	m := &nats.Msg{Subject: streams.SubjectPipelineTrigger, Data: data, Header: nats.Header{}}
	if msgID != "" {
		m.Header.Set(jetstream.MsgIDHeader, msgID)
	}
	ack, err := h.js.PublishMsg(h.ctx, m)
	if err != nil {
		h.t.Fatalf("publishing trigger: %v", err)
	}
	return ack.Sequence
}

// messages returns the messages of a stream on subject ("" = all), in order.
func (h *harness) messages(stream, subject string) []*jetstream.RawStreamMsg {
	h.t.Helper()
	return jstest.Stored(h.t, h.ctx, h.js, stream, subject)
}

// statuses decodes the PipelineStatus messages of a request, in order.
func (h *harness) statuses(requestID string) []*jetflowv1.PipelineStatus {
	h.t.Helper()
	var out []*jetflowv1.PipelineStatus
	for _, m := range h.messages(streams.StreamResults, streams.ResultSubject(streams.ResultKindPipeline, requestID)) {
		var st jetflowv1.PipelineStatus
		if err := proto.Unmarshal(m.Data, &st); err != nil {
			h.t.Fatalf("decoding status: %v", err)
		}
		out = append(out, &st)
	}
	return out
}

// waitFinals waits until n final statuses (Nats-Msg-Id ending in ":final") of a request are
// stored and returns every status of the request.
func (h *harness) waitFinals(requestID string, n int) []*jetflowv1.PipelineStatus {
	h.t.Helper()
	subject := streams.ResultSubject(streams.ResultKindPipeline, requestID)
	jstest.Eventually(h.t, 15*time.Second, 10*time.Millisecond, func() error {
		finals := 0
		for _, m := range h.messages(streams.StreamResults, subject) {
			if id := m.Header.Get(jetstream.MsgIDHeader); len(id) > 6 && id[len(id)-6:] == ":final" {
				finals++
			}
		}
		if finals != n {
			return fmt.Errorf("%d final statuses for %s, want %d", finals, requestID, n)
		}
		return nil
	})
	return h.statuses(requestID)
}

func (h *harness) waitDeadLetters(n int) []*jetstream.RawStreamMsg {
	h.t.Helper()
	var got []*jetstream.RawStreamMsg
	jstest.Eventually(h.t, 15*time.Second, 10*time.Millisecond, func() error {
		got = h.messages(streams.StreamDeadLetter, "")
		if len(got) != n {
			return fmt.Errorf("%d dead letters, want %d", len(got), n)
		}
		return nil
	})
	return got
}

// waitAcked waits until the trigger stream is empty: a work queue drops acked messages.
func (h *harness) waitAcked() {
	h.t.Helper()
	jstest.Eventually(h.t, 15*time.Second, 10*time.Millisecond, func() error {
		if n := len(h.messages(streams.StreamPipeline, "")); n != 0 {
			return fmt.Errorf("%d triggers not acked", n)
		}
		return nil
	})
}

func phases(sts []*jetflowv1.PipelineStatus) []jetflowv1.PipelineStatus_Phase {
	out := make([]jetflowv1.PipelineStatus_Phase, len(sts))
	for i, s := range sts {
		out[i] = s.GetPhase()
	}
	return out
}

func deliveries(dl *jetstream.RawStreamMsg) int {
	n, _ := strconv.Atoi(dl.Header.Get(stage.HeaderDeliveries))
	return n
}

// fakeArgo is client-go's fake dynamic client playing the Argo workflow controller: every get
// of a Workflow moves it one step along the phase script (the last phase stays).
type fakeArgo struct {
	*dynfake.FakeDynamicClient
	script []string

	mu   sync.Mutex
	gets map[string]int
}

func newFakeArgo(t *testing.T, script ...string) *fakeArgo {
	t.Helper()
	c := dynfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(),
		map[schema.GroupVersionResource]string{WorkflowGVR: "WorkflowList"})
	f := &fakeArgo{FakeDynamicClient: c, script: script, gets: map[string]int{}}
	c.PrependReactor("get", "workflows", f.advance)
	return f
}

func (f *fakeArgo) advance(a k8stesting.Action) (bool, runtime.Object, error) {
	ga := a.(k8stesting.GetAction)
	if len(f.script) == 0 {
		return false, nil, nil
	}
	obj, err := f.Tracker().Get(WorkflowGVR, ga.GetNamespace(), ga.GetName())
	if apierrors.IsNotFound(err) {
		return false, nil, nil // the default reactor answers NotFound
	}
	if err != nil {
		return true, nil, err
	}
	u := obj.(*unstructured.Unstructured).DeepCopy()
	f.mu.Lock()
	n := f.gets[ga.GetName()]
	f.gets[ga.GetName()]++
	f.mu.Unlock()
	if err := unstructured.SetNestedField(u.Object, f.script[min(n, len(f.script)-1)], "status", "phase"); err != nil {
		return true, nil, err
	}
	if err := f.Tracker().Update(WorkflowGVR, u, ga.GetNamespace()); err != nil {
		return true, nil, err
	}
	return true, u, nil
}

// workflows returns the Workflows the fake holds.
func (f *fakeArgo) workflows(t *testing.T) []unstructured.Unstructured {
	t.Helper()
	obj, err := f.Tracker().List(WorkflowGVR, WorkflowGVR.GroupVersion().WithKind("Workflow"), testNamespace)
	if err != nil {
		t.Fatalf("listing workflows: %v", err)
	}
	return obj.(*unstructured.UnstructuredList).Items
}

// count returns how many actions of verb the client received.
func (f *fakeArgo) count(verb string) int {
	n := 0
	for _, a := range f.Actions() {
		if a.GetVerb() == verb {
			n++
		}
	}
	return n
}

func mustAllowList(t *testing.T, doc string) *AllowList {
	t.Helper()
	l, err := ParseAllowList([]byte(doc), "")
	if err != nil {
		t.Fatalf("ParseAllowList: %v", err)
	}
	return l
}
