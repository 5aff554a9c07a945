package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jetflow-dev/jetflow/internal/breaker"
	"github.com/jetflow-dev/jetflow/internal/failure"
	"github.com/jetflow-dev/jetflow/internal/telemetry/tracecontext"
	"github.com/jetflow-dev/jetflow/internal/upstream/modelhttp"
	jetflowv1 "github.com/jetflow-dev/jetflow/proto/jetflow/v1"
)

const (
	statusBackendKFP = "kubeflow"
	upstreamKFP      = "kubeflow"
	kfpRunsPath      = "/apis/v2beta1/runs"
	// maxKFPBody bounds a KFP answer; a run with its task details can be large.
	maxKFPBody = 8 << 20
	// kfpListPage is how many runs of one display name the bridge looks at. More than one
	// exists only after a create race (see the package doc); the oldest is adopted.
	kfpListPage = 10
)

// kfpBackend starts and reads KFP v2 runs over REST.
type kfpBackend struct {
	http        *http.Client
	base        string
	token       func() (string, error)
	namespace   string
	brk         *breaker.Breaker
	callTimeout time.Duration

	// traced is http with its transport in the OTel HTTP instrumentation, made on first use
	// whoever built the backend, so every KFP call carries traceparent.
	traced     *http.Client
	tracedOnce sync.Once
	// locks make the create atomic across replicas (runlock.go).
	locks *runLocks
}

// client returns the backend's HTTP client, instrumented (tracecontext.Transport). It is a copy,
// so the client the bridge was given is left as it was.
func (k *kfpBackend) client() *http.Client {
	k.tracedOnce.Do(func() {
		c := *k.http
		c.Transport = tracecontext.Transport(c.Transport)
		k.traced = &c
	})
	return k.traced
}

func (k *kfpBackend) statusName() string { return statusBackendKFP }

// description marks a run as the bridge's for one request; adoption checks it.
func kfpDescription(r *Run) string {
	d := "jetflow request-id=" + r.RequestID
	if r.UserID != "" {
		d += " user-id=" + r.UserID
	}
	return d
}

func (k *kfpBackend) start(ctx context.Context, r *Run) (observation, error) {
	existing, err := k.find(ctx, r)
	if err != nil {
		return observation{}, err
	}
	var claim *runClaim
	if existing == nil {
		var adopted observation
		if claim, adopted, err = k.claimRun(ctx, r); err != nil || claim == nil {
			return adopted, err
		}
	}
	if existing != nil {
		want := "jetflow request-id=" + r.RequestID
		if d := existing.Description; d != "" && d != want && !strings.HasPrefix(d, want+" ") {
			return observation{}, failure.Permanent(fmt.Errorf("%w: KFP run %s named %s has description %q, not one for request %q",
				ErrNameCollision, existing.RunID, r.Name, truncate(d, 128), r.RequestID))
		}
		obs := kfpObservation(*existing)
		obs.adopted = true
		return obs, nil
	}
	params := make(map[string]any, len(r.Parameters))
	for _, p := range r.Parameters {
		params[p.Name] = p.Typed
	}
	body, err := json.Marshal(kfpRunRequest{
		DisplayName:  r.Name,
		Description:  kfpDescription(r),
		ExperimentID: r.Pipeline.ExperimentID,
		PipelineVersionReference: kfpVersionRef{
			PipelineID:        r.Pipeline.PipelineID,
			PipelineVersionID: r.Pipeline.PipelineVersionID,
		},
		RuntimeConfig:  kfpRuntimeConfig{Parameters: params},
		ServiceAccount: r.Pipeline.ServiceAccount,
	})
	if err != nil {
		return observation{}, failure.Permanent(fmt.Errorf("encoding KFP run %s: %w", r.Name, err))
	}
	run, err := call(ctx, k.brk, k.callTimeout, func(ctx context.Context) (kfpRun, error) {
		b, err := k.do(ctx, http.MethodPost, kfpRunsPath, nil, body)
		if err != nil {
			return kfpRun{}, fmt.Errorf("creating KFP run %s: %w", r.Name, err)
		}
		run, err := decodeKFPRun(b)
		if err != nil {
			return kfpRun{}, failure.Permanent(fmt.Errorf("creating KFP run %s: %w", r.Name, err))
		}
		return run, nil
	})
	if err != nil {
		claim.failed(ctx, err)
		return observation{}, err
	}
	claim.created(ctx, run.RunID)
	return kfpObservation(run), nil
}

// find returns the oldest run whose display name is r.Name, or nil.
func (k *kfpBackend) find(ctx context.Context, r *Run) (*kfpRun, error) {
	filter, err := json.Marshal(kfpFilter{Predicates: []kfpPredicate{{Operation: "EQUALS", Key: "display_name", StringValue: r.Name}}})
	if err != nil {
		return nil, failure.Permanent(fmt.Errorf("encoding KFP filter: %w", err))
	}
	q := url.Values{}
	q.Set("filter", string(filter))
	q.Set("page_size", strconv.Itoa(kfpListPage))
	q.Set("sort_by", "created_at")
	if r.Pipeline.ExperimentID != "" {
		q.Set("experiment_id", r.Pipeline.ExperimentID)
	}
	if k.namespace != "" {
		q.Set("namespace", k.namespace)
	}
	return call(ctx, k.brk, k.callTimeout, func(ctx context.Context) (*kfpRun, error) {
		b, err := k.do(ctx, http.MethodGet, kfpRunsPath, q, nil)
		if err != nil {
			return nil, fmt.Errorf("looking for KFP run %s: %w", r.Name, err)
		}
		runs, err := decodeKFPRunList(b)
		if err != nil {
			return nil, failure.Permanent(fmt.Errorf("looking for KFP run %s: %w", r.Name, err))
		}
		// The server filters; checking again costs nothing and guards against one that ignores
		// an unknown filter and lists everything.
		for _, run := range runs {
			if run.DisplayName == r.Name {
				return &run, nil
			}
		}
		return nil, nil
	})
}

func (k *kfpBackend) observe(ctx context.Context, r *Run, ref string) (observation, error) {
	run, err := call(ctx, k.brk, k.callTimeout, func(ctx context.Context) (kfpRun, error) {
		b, err := k.do(ctx, http.MethodGet, kfpRunsPath+"/"+url.PathEscape(ref), nil, nil)
		if err != nil {
			var he *HTTPError
			if errors.As(err, &he) && he.StatusCode == http.StatusNotFound {
				return kfpRun{}, failure.Permanent(fmt.Errorf("%w: KFP run %s (%s): %w", ErrRunGone, ref, r.Name, err))
			}
			return kfpRun{}, fmt.Errorf("getting KFP run %s (%s): %w", ref, r.Name, err)
		}
		run, err := decodeKFPRun(b)
		if err != nil {
			return kfpRun{}, failure.Permanent(fmt.Errorf("getting KFP run %s: %w", ref, err))
		}
		return run, nil
	})
	if err != nil {
		return observation{}, err
	}
	return kfpObservation(run), nil
}

// kfpObservation maps a RuntimeState onto a phase. Cancelled runs are failed runs (someone
// stopped them); a skipped run succeeded without work; canceling and paused runs are still
// running. An unknown state counts as running, named in the message.
func kfpObservation(run kfpRun) observation {
	o := observation{ref: run.RunID, message: run.Error}
	note := func(s string) {
		if o.message == "" {
			o.message = s
		} else {
			o.message = s + ": " + o.message
		}
	}
	switch run.State {
	case "", "RUNTIME_STATE_UNSPECIFIED", "PENDING":
		o.phase = jetflowv1.PipelineStatus_PHASE_PENDING
	case "RUNNING":
		o.phase = jetflowv1.PipelineStatus_PHASE_RUNNING
	case "CANCELING":
		o.phase = jetflowv1.PipelineStatus_PHASE_RUNNING
		note("canceling")
	case "PAUSED":
		o.phase = jetflowv1.PipelineStatus_PHASE_RUNNING
		note("paused")
	case "SUCCEEDED":
		o.phase = jetflowv1.PipelineStatus_PHASE_SUCCEEDED
	case "SKIPPED":
		o.phase = jetflowv1.PipelineStatus_PHASE_SUCCEEDED
		note("skipped")
	case "FAILED":
		o.phase = jetflowv1.PipelineStatus_PHASE_FAILED
	case "CANCELED":
		o.phase = jetflowv1.PipelineStatus_PHASE_FAILED
		note("canceled")
	default:
		o.phase = jetflowv1.PipelineStatus_PHASE_RUNNING
		note(fmt.Sprintf("KFP state %q", truncate(run.State, 64)))
	}
	return o
}

// do sends one request and returns the 2xx body. Non-2xx answers are *HTTPError, marked by
// classifyHTTP: 401, 408, 425, 429 and 5xx are retryable (after the server's Retry-After when
// it sent one), every other status (400, 403, 404...) is permanent. Transport errors are
// retryable.
func (k *kfpBackend) do(ctx context.Context, method, path string, q url.Values, body []byte) ([]byte, error) {
	u := k.base + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, failure.Permanent(fmt.Errorf("building request: %w", err))
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	token := ""
	if k.token != nil {
		if token, err = k.token(); err != nil {
			return nil, fmt.Errorf("reading the KFP token: %w", err)
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
	}
	resp, err := k.client().Do(req)
	if err != nil {
		// *url.Error quotes the URL, which carries no secret (the token is a header).
		return nil, fmt.Errorf("sending: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		he := &HTTPError{Method: method, Path: path, StatusCode: resp.StatusCode, Body: modelhttp.ReadErrorBody(resp.Body, token)}
		return nil, classifyHTTP(he, resp.Header.Get("Retry-After"), time.Now())
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxKFPBody+1))
	if err != nil {
		return nil, fmt.Errorf("reading answer: %w", err)
	}
	if len(b) > maxKFPBody {
		return nil, failure.Permanent(fmt.Errorf("answer is larger than %d bytes", maxKFPBody))
	}
	return b, nil
}

// classifyHTTP marks a KFP answer with the statuses model servers share
// (modelhttp.RetryableStatus) plus 401: a FileToken is rotated in place by the kubelet and the
// next attempt reads it again, so a 401 from a token that just expired heals.
// Retryable answers carry the server's Retry-After when it sent one.
func classifyHTTP(e *HTTPError, retryAfter string, now time.Time) error {
	if e.StatusCode != http.StatusUnauthorized && !modelhttp.RetryableStatus(e.StatusCode) {
		return failure.Permanent(e)
	}
	if d, ok := modelhttp.ParseRetryAfter(retryAfter, now); ok {
		return failure.RetryAfter(e, d)
	}
	return e
}
