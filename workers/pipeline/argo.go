package pipeline

import (
	"context"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	"github.com/jetflow-dev/jetflow/internal/breaker"
	"github.com/jetflow-dev/jetflow/internal/failure"
	"github.com/jetflow-dev/jetflow/internal/telemetry/tracecontext"
	"github.com/jetflow-dev/jetflow/internal/upstream/modelhttp"
	jetflowv1 "github.com/jetflow-dev/jetflow/proto/jetflow/v1"
)

// WorkflowGVR is the Argo Workflow resource the bridge creates. The RBAC it needs: create and
// get on workflows.argoproj.io in the Argo namespace.
var WorkflowGVR = schema.GroupVersionResource{Group: "argoproj.io", Version: "v1alpha1", Resource: "workflows"}

// Labels and annotations the bridge puts on a Workflow. The request-id annotation holds the id
// itself and is what a redelivery checks before adopting a Workflow; the label of the same key
// makes `kubectl get wf -l jetflow.dev/request-id=...` work (it is a hash when the id is not a
// valid label value).
const (
	LabelRequestID      = "jetflow.dev/request-id"
	LabelPipeline       = "jetflow.dev/pipeline"
	AnnotationRequestID = "jetflow.dev/request-id"
	AnnotationUserID    = "jetflow.dev/user-id"
	AnnotationSessionID = "jetflow.dev/session-id"
)

const (
	labelWorkflowTemplate = "workflows.argoproj.io/workflow-template"
	statusBackendArgo     = "argo"
	upstreamKubernetes    = "kubernetes"
)

// Workflow phases (status.phase) as the Argo controller writes them.
const (
	argoPhasePending   = "Pending"
	argoPhaseRunning   = "Running"
	argoPhaseSucceeded = "Succeeded"
	argoPhaseFailed    = "Failed"
	argoPhaseError     = "Error"
)

// argoBackend creates Workflows from WorkflowTemplates in one namespace.
type argoBackend struct {
	client      dynamic.ResourceInterface
	namespace   string
	brk         *breaker.Breaker
	callTimeout time.Duration
}

func newArgoBackend(dyn dynamic.Interface, namespace string, brk *breaker.Breaker, callTimeout time.Duration) *argoBackend {
	return &argoBackend{
		client:      dyn.Resource(WorkflowGVR).Namespace(namespace),
		namespace:   namespace,
		brk:         brk,
		callTimeout: callTimeout,
	}
}

func (a *argoBackend) statusName() string { return statusBackendArgo }

// workflow builds the Workflow for r: a reference to the template, the parameters sorted by
// name (Argo wants strings), and the bridge's labels and annotations.
func (a *argoBackend) workflow(r *Run) *unstructured.Unstructured {
	labels := map[string]any{}
	for k, v := range r.Pipeline.Labels {
		labels[k] = v
	}
	labels[LabelRequestID] = requestIDLabel(r.RequestID)
	labels[LabelPipeline] = r.Pipeline.Name
	labels[labelWorkflowTemplate] = r.Pipeline.Template
	annotations := map[string]any{AnnotationRequestID: r.RequestID}
	if r.UserID != "" {
		annotations[AnnotationUserID] = r.UserID
	}
	if r.SessionID != "" {
		annotations[AnnotationSessionID] = r.SessionID
	}
	params := make([]any, 0, len(r.Parameters))
	for _, p := range r.Parameters {
		params = append(params, map[string]any{"name": p.Name, "value": p.Value})
	}
	spec := map[string]any{
		"workflowTemplateRef": map[string]any{"name": r.Pipeline.Template},
		"arguments":           map[string]any{"parameters": params},
	}
	if r.Pipeline.ServiceAccount != "" {
		spec["serviceAccountName"] = r.Pipeline.ServiceAccount
	}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": WorkflowGVR.GroupVersion().String(),
		"kind":       "Workflow",
		"metadata": map[string]any{
			"name":        r.Name,
			"namespace":   a.namespace,
			"labels":      labels,
			"annotations": annotations,
		},
		"spec": spec,
	}}
}

type created struct {
	obj    *unstructured.Unstructured
	exists bool
}

func (a *argoBackend) start(ctx context.Context, r *Run) (observation, error) {
	res, err := call(ctx, a.brk, a.callTimeout, func(ctx context.Context) (created, error) {
		ctx, attempts := tracecontext.CountAttempts(ctx)
		obj, err := a.client.Create(ctx, a.workflow(r), metav1.CreateOptions{})
		attempts.Record(ctx)
		if apierrors.IsAlreadyExists(err) {
			return created{exists: true}, nil // the upstream answered; not a failure
		}
		if err != nil {
			return created{}, classifyKube(fmt.Sprintf("creating workflow %s/%s from template %s", a.namespace, r.Name, r.Pipeline.Template), err)
		}
		return created{obj: obj}, nil
	})
	if err != nil {
		return observation{}, err
	}
	if !res.exists {
		return argoObservation(r.Name, res.obj), nil
	}
	// A delivery before this one created it (or its create answer was lost): adopt it if it is
	// ours.
	obj, err := a.get(ctx, r.Name)
	if err != nil {
		if failure.IsPermanent(err) && apierrors.IsNotFound(err) {
			// Deleted between our create and get: try again, the next create will succeed.
			return observation{}, fmt.Errorf("workflow %s/%s vanished right after AlreadyExists", a.namespace, r.Name)
		}
		return observation{}, err
	}
	if got := obj.GetAnnotations()[AnnotationRequestID]; got != r.RequestID {
		return observation{}, failure.Permanent(fmt.Errorf("%w: workflow %s/%s exists and was made for request %q, not %q",
			ErrNameCollision, a.namespace, r.Name, truncate(got, 128), r.RequestID))
	}
	obs := argoObservation(r.Name, obj)
	obs.adopted = true
	return obs, nil
}

func (a *argoBackend) observe(ctx context.Context, r *Run, ref string) (observation, error) {
	obj, err := a.get(ctx, ref)
	if err != nil {
		if apierrors.IsNotFound(err) {
			return observation{}, failure.Permanent(fmt.Errorf("%w: workflow %s/%s: %w", ErrRunGone, a.namespace, ref, err))
		}
		return observation{}, err
	}
	return argoObservation(ref, obj), nil
}

func (a *argoBackend) get(ctx context.Context, name string) (*unstructured.Unstructured, error) {
	return call(ctx, a.brk, a.callTimeout, func(ctx context.Context) (*unstructured.Unstructured, error) {
		ctx, attempts := tracecontext.CountAttempts(ctx)
		obj, err := a.client.Get(ctx, name, metav1.GetOptions{})
		attempts.Record(ctx)
		if err != nil {
			return nil, classifyKube(fmt.Sprintf("getting workflow %s/%s", a.namespace, name), err)
		}
		return obj, nil
	})
}

// argoObservation reads status.phase and status.message. A Workflow the controller has not
// touched yet has no status: it is pending. A phase this code does not know is reported as
// running, with the phase in the message, rather than ending the follow on a guess.
// traceKubernetes makes every request of the clients built from cfg go through the OTel HTTP
// instrumentation (tracecontext.Transport): a client span in its caller's trace, traceparent
// for the API server, and an attempt counted for its call, since client-go retries by itself
// (a 429 or 5xx with Retry-After, a GET cut off).
func traceKubernetes(cfg *rest.Config) { cfg.Wrap(tracecontext.Transport) }

func argoObservation(name string, obj *unstructured.Unstructured) observation {
	phase, _, _ := unstructured.NestedString(obj.Object, "status", "phase")
	msg, _, _ := unstructured.NestedString(obj.Object, "status", "message")
	o := observation{ref: name, message: msg}
	switch phase {
	case "", argoPhasePending:
		o.phase = jetflowv1.PipelineStatus_PHASE_PENDING
	case argoPhaseRunning:
		o.phase = jetflowv1.PipelineStatus_PHASE_RUNNING
	case argoPhaseSucceeded:
		o.phase = jetflowv1.PipelineStatus_PHASE_SUCCEEDED
	case argoPhaseFailed:
		o.phase = jetflowv1.PipelineStatus_PHASE_FAILED
	case argoPhaseError:
		o.phase = jetflowv1.PipelineStatus_PHASE_ERROR
	default:
		o.phase = jetflowv1.PipelineStatus_PHASE_RUNNING
		o.message = fmt.Sprintf("argo phase %q: %s", truncate(phase, 64), msg)
	}
	return o
}

// classifyKube marks a Kubernetes API error. Refusals that a retry cannot change are
// permanent: 403 (RBAC), 400 and 422 (the Workflow is invalid), 404 (no such namespace or CRD),
// 405, 406, 413, 415 and a 409 other than AlreadyExists. 429 is retryable after the server's
// suggested delay; 401 (a rotated token is reloaded), timeouts, 5xx and transport errors are
// retryable.
func classifyKube(what string, err error) error {
	wrapped := fmt.Errorf("%s: %w", what, err)
	switch {
	case apierrors.IsTooManyRequests(err):
		if s, ok := apierrors.SuggestsClientDelay(err); ok && s > 0 {
			return failure.RetryAfter(wrapped, min(time.Duration(s)*time.Second, modelhttp.MaxRetryAfter))
		}
		return wrapped
	case apierrors.IsForbidden(err), apierrors.IsInvalid(err), apierrors.IsBadRequest(err),
		apierrors.IsNotFound(err), apierrors.IsMethodNotSupported(err), apierrors.IsNotAcceptable(err),
		apierrors.IsRequestEntityTooLargeError(err), apierrors.IsUnsupportedMediaType(err),
		apierrors.IsConflict(err) && !apierrors.IsAlreadyExists(err):
		return failure.Permanent(wrapped)
	}
	return wrapped
}
