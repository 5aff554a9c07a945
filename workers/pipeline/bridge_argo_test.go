package pipeline

import (
	"errors"
	"reflect"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	k8stesting "k8s.io/client-go/testing"

	"github.com/jetflow-dev/jetflow/internal/stage"
	jetflowv1 "github.com/jetflow-dev/jetflow/proto/jetflow/v1"
	"github.com/jetflow-dev/jetflow/streams"
)

const argoAllowList = `
pipelines:
  rag-ingest:
    backend: argo
    template: rag-ingest-tmpl
    service_account: pipeline-runner
    labels: {team: ai}
    parameters:
      source: {pattern: '^s3://docs/[a-z0-9/_-]{1,200}$', required: true}
      chunk_size: {pattern: '^[0-9]{2,4}$', default: "512", type: integer}
`

var workflowsGR = schema.GroupResource{Group: "argoproj.io", Resource: "workflows"}

func ingestTrigger(requestID string) *jetflowv1.PipelineTrigger {
	return &jetflowv1.PipelineTrigger{
		RequestId:  requestID,
		SessionId:  "sess-1",
		UserId:     "ana@example.com",
		Pipeline:   "rag-ingest",
		Parameters: map[string]string{"source": "s3://docs/handbook"},
	}
}

func newArgoBridge(t *testing.T, f *fakeArgo, s Settings) *Bridge {
	t.Helper()
	b, err := New(mustAllowList(t, argoAllowList), s, Clients{Kubernetes: f}, nil, nil)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return b
}

var wantArgoPhases = []jetflowv1.PipelineStatus_Phase{
	jetflowv1.PipelineStatus_PHASE_PENDING,
	jetflowv1.PipelineStatus_PHASE_RUNNING,
	jetflowv1.PipelineStatus_PHASE_SUCCEEDED,
}

// The API server stores the first two creates but their answers are lost (503): the trigger is
// delivered three times, and still exactly one Workflow exists, the third delivery adopting it.
func TestArgoTriggerDeliveredThreeTimesStartsOneWorkflow(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	f := newFakeArgo(t, "Pending", "Running", "Succeeded")
	var creates atomic.Int32
	f.PrependReactor("create", "workflows", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if creates.Add(1) > 2 {
			return false, nil, nil // the default reactor answers: AlreadyExists
		}
		obj := a.(k8stesting.CreateAction).GetObject()
		if err := f.Tracker().Create(WorkflowGVR, obj, testNamespace); err != nil && !apierrors.IsAlreadyExists(err) {
			return true, nil, err
		}
		return true, nil, apierrors.NewServiceUnavailable("etcd leader changed")
	})
	h.start(newArgoBridge(t, f, testSettings()))
	h.publish(ingestTrigger("req-1"), "")

	sts := h.waitFinals("req-1", 1)
	h.waitAcked()
	if got := phases(sts); !reflect.DeepEqual(got, wantArgoPhases) {
		t.Errorf("status phases = %v, want %v", got, wantArgoPhases)
	}
	if n := creates.Load(); n != 3 {
		t.Errorf("create called %d times, want 3 (one per delivery)", n)
	}
	wfs := f.workflows(t)
	if len(wfs) != 1 {
		t.Fatalf("%d workflows exist, want exactly 1", len(wfs))
	}
	checkWorkflow(t, &wfs[0], "req-1")
	last := sts[len(sts)-1]
	if last.GetRequestId() != "req-1" || last.GetPipeline() != "rag-ingest" || last.GetBackend() != "argo" ||
		last.GetRunName() != RunName("rag-ingest", "req-1") || last.GetUpdatedAt() == nil {
		t.Errorf("final status = %v", last)
	}
	if dl := h.messages(streams.StreamDeadLetter, ""); len(dl) != 0 {
		t.Errorf("%d dead letters, want none", len(dl))
	}
}

// checkWorkflow checks what the bridge asked Kubernetes to create.
func checkWorkflow(t *testing.T, wf *unstructured.Unstructured, requestID string) {
	t.Helper()
	if wf.GetName() != RunName("rag-ingest", requestID) || wf.GetNamespace() != testNamespace {
		t.Errorf("workflow %s/%s", wf.GetNamespace(), wf.GetName())
	}
	if wf.GetAPIVersion() != "argoproj.io/v1alpha1" || wf.GetKind() != "Workflow" {
		t.Errorf("workflow is a %s %s", wf.GetAPIVersion(), wf.GetKind())
	}
	tmpl, _, _ := unstructured.NestedString(wf.Object, "spec", "workflowTemplateRef", "name")
	if tmpl != "rag-ingest-tmpl" {
		t.Errorf("workflowTemplateRef.name = %q", tmpl)
	}
	sa, _, _ := unstructured.NestedString(wf.Object, "spec", "serviceAccountName")
	if sa != "pipeline-runner" {
		t.Errorf("serviceAccountName = %q", sa)
	}
	params, _, _ := unstructured.NestedSlice(wf.Object, "spec", "arguments", "parameters")
	want := []any{
		map[string]any{"name": "chunk_size", "value": "512"},
		map[string]any{"name": "source", "value": "s3://docs/handbook"},
	}
	if !reflect.DeepEqual(params, want) {
		t.Errorf("parameters = %v, want %v (sorted by name, defaults filled)", params, want)
	}
	labels := wf.GetLabels()
	wantLabels := map[string]string{
		LabelRequestID: requestID, LabelPipeline: "rag-ingest", "team": "ai",
		"workflows.argoproj.io/workflow-template": "rag-ingest-tmpl",
	}
	if !reflect.DeepEqual(labels, wantLabels) {
		t.Errorf("labels = %v, want %v", labels, wantLabels)
	}
	ann := wf.GetAnnotations()
	if ann[AnnotationRequestID] != requestID || ann[AnnotationUserID] != "ana@example.com" || ann[AnnotationSessionID] != "sess-1" {
		t.Errorf("annotations = %v", ann)
	}
}

// Three publishes of one request id (distinct Nats-Msg-Ids, so JetStream stores all three)
// handled at once: one Workflow, three final statuses.
func TestArgoSameRequestPublishedThreeTimes(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	f := newFakeArgo(t, "Running", "Running", "Succeeded")
	h.start(newArgoBridge(t, f, testSettings()))
	for _, id := range []string{"a", "b", "c"} {
		h.publish(ingestTrigger("req-dup"), "client-"+id)
	}
	sts := h.waitFinals("req-dup", 3)
	h.waitAcked()
	if wfs := f.workflows(t); len(wfs) != 1 {
		t.Fatalf("%d workflows exist, want exactly 1", len(wfs))
	}
	if n := f.count("create"); n != 3 {
		t.Errorf("create called %d times, want 3 (two answered AlreadyExists)", n)
	}
	finals := 0
	for _, s := range sts {
		if s.GetPhase() == jetflowv1.PipelineStatus_PHASE_SUCCEEDED {
			finals++
		}
	}
	if finals != 3 {
		t.Errorf("%d SUCCEEDED statuses, want 3: %v", finals, phases(sts))
	}
}

// Nothing off the allow-list reaches Kubernetes: the trigger is dead-lettered with the reason.
func TestArgoRefusedTriggersCreateNothing(t *testing.T) {
	tests := []struct {
		name    string
		trigger *jetflowv1.PipelineTrigger
		reason  string
	}{
		{
			name:    "unknown pipeline",
			trigger: &jetflowv1.PipelineTrigger{RequestId: "r1", Pipeline: "delete-everything"},
			reason:  `not on the pipeline allow-list: pipeline "delete-everything" is not allowed`,
		},
		{
			name: "unknown parameter",
			trigger: &jetflowv1.PipelineTrigger{RequestId: "r2", Pipeline: "rag-ingest",
				Parameters: map[string]string{"source": "s3://docs/a", "image": "attacker/miner"}},
			reason: `parameter "image" is not allowed`,
		},
		{
			name: "value failing its pattern",
			trigger: &jetflowv1.PipelineTrigger{RequestId: "r3", Pipeline: "rag-ingest",
				Parameters: map[string]string{"source": "s3://docs/a$(curl evil)"}},
			reason: `parameter "source": value (23 bytes) does not match ^s3://docs/[a-z0-9/_-]{1,200}$`,
		},
		{
			name:    "missing required parameter",
			trigger: &jetflowv1.PipelineTrigger{RequestId: "r4", Pipeline: "rag-ingest"},
			reason:  `parameter "source" is required`,
		},
		{
			name:    "invalid trigger",
			trigger: &jetflowv1.PipelineTrigger{RequestId: "r5", Pipeline: "Rag Ingest"},
			reason:  "pipeline",
		},
		{
			name: "deadline passed",
			trigger: &jetflowv1.PipelineTrigger{RequestId: "r6", Pipeline: "rag-ingest", Deadline: timestamppb.New(time.Now().Add(-time.Minute)),
				Parameters: map[string]string{"source": "s3://docs/a"}},
			reason: "request deadline",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			f := newFakeArgo(t, "Succeeded")
			h.start(newArgoBridge(t, f, testSettings()))
			seq := h.publish(tt.trigger, "")
			dl := h.waitDeadLetters(1)[0]
			if dl.Subject != "ai.dlq."+StageName {
				t.Errorf("dead letter on %s", dl.Subject)
			}
			if got := dl.Header.Get(stage.HeaderError); !strings.Contains(got, tt.reason) {
				t.Errorf("%s = %q, want it to contain %q", stage.HeaderError, got, tt.reason)
			}
			if got := dl.Header.Get(stage.HeaderErrorKind); got != stage.KindPermanent {
				t.Errorf("%s = %q, want %s", stage.HeaderErrorKind, got, stage.KindPermanent)
			}
			if got := dl.Header.Get(stage.HeaderStreamSeq); got != strconv.FormatUint(seq, 10) {
				t.Errorf("%s = %q, want %d", stage.HeaderStreamSeq, got, seq)
			}
			if n := deliveries(dl); n != 1 {
				t.Errorf("dead-lettered after %d deliveries, want 1", n)
			}
			h.waitAcked()
			if acts := f.Actions(); len(acts) != 0 {
				t.Errorf("Kubernetes received %d calls, want none: %v", len(acts), acts)
			}
			if sts := h.statuses(tt.trigger.GetRequestId()); len(sts) != 0 {
				t.Errorf("%d statuses published, want none", len(sts))
			}
		})
	}
}

// A 403 is the cluster saying no: dead-lettered on the first delivery, not retried.
func TestArgoForbiddenIsDeadLetteredAtOnce(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	f := newFakeArgo(t, "Succeeded")
	f.PrependReactor("create", "workflows", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(workflowsGR, "x", errors.New(`serviceaccount "pipeline-bridge" cannot create workflows`))
	})
	h.start(newArgoBridge(t, f, testSettings()))
	h.publish(ingestTrigger("req-403"), "")
	dl := h.waitDeadLetters(1)[0]
	if n := deliveries(dl); n != 1 {
		t.Errorf("dead-lettered after %d deliveries, want 1", n)
	}
	if got := dl.Header.Get(stage.HeaderError); !strings.Contains(got, "forbidden") || !strings.Contains(got, "creating workflow") {
		t.Errorf("%s = %q", stage.HeaderError, got)
	}
	h.waitAcked()
	if n := f.count("create"); n != 1 {
		t.Errorf("create called %d times, want 1", n)
	}
	if wfs := f.workflows(t); len(wfs) != 0 {
		t.Errorf("%d workflows exist, want none", len(wfs))
	}
}

// A 503 is retryable: the trigger is naked, redelivered, and the run then starts.
func TestArgoUnavailableIsRetried(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	f := newFakeArgo(t, "Running", "Succeeded")
	var calls atomic.Int32
	f.PrependReactor("create", "workflows", func(k8stesting.Action) (bool, runtime.Object, error) {
		if calls.Add(1) == 1 {
			return true, nil, apierrors.NewServiceUnavailable("apiserver restarting")
		}
		return false, nil, nil
	})
	h.start(newArgoBridge(t, f, testSettings()))
	h.publish(ingestTrigger("req-503"), "")
	sts := h.waitFinals("req-503", 1)
	h.waitAcked()
	want := []jetflowv1.PipelineStatus_Phase{jetflowv1.PipelineStatus_PHASE_PENDING, jetflowv1.PipelineStatus_PHASE_RUNNING, jetflowv1.PipelineStatus_PHASE_SUCCEEDED}
	if got := phases(sts); !reflect.DeepEqual(got, want) {
		t.Errorf("status phases = %v, want %v", got, want)
	}
	if n := f.count("create"); n != 2 {
		t.Errorf("create called %d times, want 2", n)
	}
	if wfs := f.workflows(t); len(wfs) != 1 {
		t.Errorf("%d workflows exist, want 1", len(wfs))
	}
	if dl := h.messages(streams.StreamDeadLetter, ""); len(dl) != 0 {
		t.Errorf("%d dead letters, want none", len(dl))
	}
}

func TestArgoFailedRunEndsFailed(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	f := newFakeArgo(t, "Running", "Failed")
	h.start(newArgoBridge(t, f, testSettings()))
	h.publish(ingestTrigger("req-fail"), "")
	sts := h.waitFinals("req-fail", 1)
	if last := sts[len(sts)-1]; last.GetPhase() != jetflowv1.PipelineStatus_PHASE_FAILED {
		t.Errorf("final phase = %v, want FAILED", last.GetPhase())
	}
}

// A Workflow of the same name made for another request is never adopted.
func TestArgoNameCollisionIsDeadLettered(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	f := newFakeArgo(t, "Running")
	other := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow",
		"metadata": map[string]any{
			"name": RunName("rag-ingest", "req-x"), "namespace": testNamespace,
			"annotations": map[string]any{AnnotationRequestID: "someone-else"},
		},
	}}
	if err := f.Tracker().Create(WorkflowGVR, other, testNamespace); err != nil {
		t.Fatal(err)
	}
	h.start(newArgoBridge(t, f, testSettings()))
	h.publish(ingestTrigger("req-x"), "")
	dl := h.waitDeadLetters(1)[0]
	if got := dl.Header.Get(stage.HeaderError); !strings.Contains(got, ErrNameCollision.Error()) || !strings.Contains(got, "someone-else") {
		t.Errorf("%s = %q", stage.HeaderError, got)
	}
	if sts := h.statuses("req-x"); len(sts) != 0 {
		t.Errorf("statuses published for a run that is not ours: %v", phases(sts))
	}
}

// A Workflow deleted while followed ends the trigger with an ERROR status.
func TestArgoWorkflowDeletedWhileFollowed(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	f := newFakeArgo(t) // no script: gets answer from the tracker as is
	var gets atomic.Int32
	f.PrependReactor("get", "workflows", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if gets.Add(1) == 2 {
			ga := a.(k8stesting.GetAction)
			if err := f.Tracker().Delete(WorkflowGVR, ga.GetNamespace(), ga.GetName()); err != nil {
				return true, nil, err
			}
		}
		return false, nil, nil
	})
	h.start(newArgoBridge(t, f, testSettings()))
	h.publish(ingestTrigger("req-gone"), "")
	sts := h.waitFinals("req-gone", 1)
	last := sts[len(sts)-1]
	if last.GetPhase() != jetflowv1.PipelineStatus_PHASE_ERROR || !strings.Contains(last.GetMessage(), "disappeared") {
		t.Errorf("final status = %v", last)
	}
}

// When Timeout passes first, the final status keeps the last phase and says so; the trigger is
// acked, and the run is left alone.
func TestArgoFollowTimeout(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	f := newFakeArgo(t, "Running")
	s := testSettings()
	s.Timeout = 300 * time.Millisecond
	h.start(newArgoBridge(t, f, s))
	h.publish(ingestTrigger("req-slow"), "")
	sts := h.waitFinals("req-slow", 1)
	h.waitAcked()
	last := sts[len(sts)-1]
	if last.GetPhase() != jetflowv1.PipelineStatus_PHASE_RUNNING || !strings.Contains(last.GetMessage(), "stopped following") {
		t.Errorf("final status = %v", last)
	}
	if n := f.count("delete"); n != 0 {
		t.Errorf("the bridge deleted the run")
	}
}

// The trigger's deadline bounds the start only: a run followed past it still reports its end.
func TestArgoFollowOutlivesTriggerDeadline(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	f := newFakeArgo(t, "Running", "Running", "Running", "Running", "Running", "Running", "Running", "Running", "Running", "Running", "Running", "Running", "Running", "Running", "Running", "Succeeded")
	h.start(newArgoBridge(t, f, testSettings()))
	trig := ingestTrigger("req-deadline")
	trig.Deadline = timestamppb.New(time.Now().Add(150 * time.Millisecond))
	h.publish(trig, "")
	sts := h.waitFinals("req-deadline", 1)
	if last := sts[len(sts)-1]; last.GetPhase() != jetflowv1.PipelineStatus_PHASE_SUCCEEDED {
		t.Errorf("final status = %v", last)
	}
	if dl := h.messages(streams.StreamDeadLetter, ""); len(dl) != 0 {
		t.Errorf("dead-lettered: %s", dl[0].Header.Get(stage.HeaderError))
	}
}
