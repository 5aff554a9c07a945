package pipeline

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/jetflow-dev/jetflow/internal/stage"
	jetflowv1 "github.com/jetflow-dev/jetflow/proto/jetflow/v1"
	"github.com/jetflow-dev/jetflow/streams"
)

const kfpAllowList = `
pipelines:
  nightly-eval:
    backend: kfp
    pipeline_id: pl-1
    pipeline_version_id: ver-1
    experiment_id: exp-1
    service_account: pipeline-runner
    parameters:
      dataset: {pattern: '^[a-z0-9-]{1,40}$', required: true}
      threshold: {pattern: '^0\.[0-9]{1,3}$', type: number}
      epochs: {pattern: '^[0-9]{1,3}$', type: integer, default: "3"}
      dry_run: {pattern: '^(true|false)$', type: boolean, default: "false"}
`

const kfpToken = "kfp-s3cret-token"

// fakeKFP is an httptest KFP API server speaking the v2beta1 REST shapes. It checks the bearer
// token and the exact JSON of every create, stores runs, and moves each run along the state
// script on every get.
type fakeKFP struct {
	t      *testing.T
	srv    *httptest.Server
	script []string
	// createStatus, when set, answers the first creates with these statuses; a 5xx is answered
	// after the run is stored (the answer was lost), a 4xx without storing it.
	createStatus []int
	// beforeList, when set, runs before each list is answered, outside the fake's lock.
	beforeList func()

	mu      sync.Mutex
	runs    map[string]*fakeKFPRun
	order   []string
	posts   int
	lists   int
	bodies  []map[string]any
	badAuth int
}

type fakeKFPRun struct {
	id, displayName, description string
	gets                         int
}

func newFakeKFP(t *testing.T, script ...string) *fakeKFP {
	f := &fakeKFP{t: t, script: script, runs: map[string]*fakeKFPRun{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeKFP) serve(w http.ResponseWriter, r *http.Request) {
	if f.beforeList != nil && r.Method == http.MethodGet && r.URL.Path == kfpRunsPath {
		f.beforeList()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.Header.Get("Authorization") != "Bearer "+kfpToken {
		f.badAuth++
		writeJSON(w, http.StatusUnauthorized, map[string]any{"error": "no token", "code": 16})
		return
	}
	switch {
	case r.Method == http.MethodPost && r.URL.Path == kfpRunsPath:
		f.create(w, r)
	case r.Method == http.MethodGet && r.URL.Path == kfpRunsPath:
		f.list(w, r)
	case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, kfpRunsPath+"/"):
		f.get(w, strings.TrimPrefix(r.URL.Path, kfpRunsPath+"/"))
	default:
		writeJSON(w, http.StatusNotFound, map[string]any{"error": "no route", "code": 5})
	}
}

func (f *fakeKFP) create(w http.ResponseWriter, r *http.Request) {
	f.posts++
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		f.t.Errorf("create Content-Type = %q", ct)
	}
	raw, _ := io.ReadAll(r.Body)
	var body map[string]any
	if err := json.Unmarshal(raw, &body); err != nil {
		f.t.Errorf("create body is not JSON: %v: %s", err, raw)
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": "bad json"})
		return
	}
	f.bodies = append(f.bodies, body)
	status := http.StatusOK
	if f.posts <= len(f.createStatus) {
		status = f.createStatus[f.posts-1]
	}
	if status >= 400 && status < 500 {
		// Echoing the request's credentials, as some gateways do in their error pages, lets a
		// test see that the bridge redacts them.
		writeJSON(w, status, map[string]any{"error": "pipeline version ver-1 not found", "code": 5,
			"authorization": r.Header.Get("Authorization")})
		return
	}
	id := fmt.Sprintf("run-%d", len(f.order)+1)
	run := &fakeKFPRun{id: id, displayName: body["display_name"].(string), description: fmt.Sprint(body["description"])}
	f.runs[id] = run
	f.order = append(f.order, id)
	if status != http.StatusOK {
		writeJSON(w, status, map[string]any{"error": "gateway lost the answer"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"run_id": id, "display_name": run.displayName, "state": "PENDING"})
}

func (f *fakeKFP) list(w http.ResponseWriter, r *http.Request) {
	f.lists++
	q := r.URL.Query()
	var filter struct {
		Predicates []map[string]any `json:"predicates"`
	}
	if err := json.Unmarshal([]byte(q.Get("filter")), &filter); err != nil || len(filter.Predicates) != 1 {
		f.t.Errorf("list filter = %q (%v)", q.Get("filter"), err)
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": "bad filter"})
		return
	}
	p := filter.Predicates[0]
	if p["operation"] != "EQUALS" || p["key"] != "display_name" {
		f.t.Errorf("list predicate = %v", p)
	}
	if q.Get("experiment_id") != "exp-1" || q.Get("sort_by") != "created_at" || q.Get("page_size") == "" {
		f.t.Errorf("list query = %v", q)
	}
	var runs []map[string]any
	for _, id := range f.order {
		if run := f.runs[id]; run.displayName == p["string_value"] {
			runs = append(runs, map[string]any{"run_id": id, "display_name": run.displayName, "description": run.description, "state": "RUNNING"})
		}
	}
	if len(runs) == 0 {
		writeJSON(w, http.StatusOK, map[string]any{"total_size": 0}) // KFP omits the empty list
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"runs": runs, "total_size": len(runs)})
}

func (f *fakeKFP) get(w http.ResponseWriter, id string) {
	run, ok := f.runs[id]
	if !ok {
		writeJSON(w, http.StatusNotFound, map[string]any{"error": "run not found", "code": 5})
		return
	}
	state := f.script[min(run.gets, len(f.script)-1)]
	run.gets++
	out := map[string]any{"run_id": id, "display_name": run.displayName, "state": state, "run_details": map[string]any{"task_details": []any{}}}
	if state == "FAILED" {
		out["error"] = map[string]any{"code": 2, "message": "task train failed"}
	}
	writeJSON(w, http.StatusOK, out)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func newKFPBridge(h *harness, f *fakeKFP) *Bridge {
	t := h.t
	t.Helper()
	b, err := New(mustAllowList(t, kfpAllowList), testSettings(), Clients{
		KFPURL: f.srv.URL + "/", KFPHTTP: f.srv.Client(), KFPToken: StaticToken(kfpToken),
		RunLocks: h.runLocks(),
	}, nil, nil)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return b
}

func evalTrigger(requestID string) *jetflowv1.PipelineTrigger {
	return &jetflowv1.PipelineTrigger{
		RequestId:  requestID,
		UserId:     "ana@example.com",
		Pipeline:   "nightly-eval",
		Parameters: map[string]string{"dataset": "eval-2026", "threshold": "0.75"},
	}
}

// wantKFPBody is the documented CreateRun body (the Run itself), parameters typed per the
// allow-list.
func wantKFPBody(requestID string) map[string]any {
	return map[string]any{
		"display_name":  RunName("nightly-eval", requestID),
		"description":   "jetflow request-id=" + requestID + " user-id=ana@example.com",
		"experiment_id": "exp-1",
		"pipeline_version_reference": map[string]any{
			"pipeline_id":         "pl-1",
			"pipeline_version_id": "ver-1",
		},
		"runtime_config": map[string]any{
			"parameters": map[string]any{"dataset": "eval-2026", "threshold": 0.75, "epochs": float64(3), "dry_run": false},
		},
		"service_account": "pipeline-runner",
	}
}

func TestKFPRunFollowedToCompletion(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	f := newFakeKFP(t, "RUNNING", "RUNNING", "SUCCEEDED")
	h.start(newKFPBridge(h, f))
	h.publish(evalTrigger("req-k"), "")
	sts := h.waitFinals("req-k", 1)
	h.waitAcked()

	want := []jetflowv1.PipelineStatus_Phase{jetflowv1.PipelineStatus_PHASE_PENDING, jetflowv1.PipelineStatus_PHASE_RUNNING, jetflowv1.PipelineStatus_PHASE_SUCCEEDED}
	if got := phases(sts); !reflect.DeepEqual(got, want) {
		t.Errorf("status phases = %v, want %v", got, want)
	}
	last := sts[len(sts)-1]
	if last.GetBackend() != "kubeflow" || last.GetRunName() != RunName("nightly-eval", "req-k") || last.GetPipeline() != "nightly-eval" {
		t.Errorf("final status = %v", last)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.posts != 1 || len(f.runs) != 1 || f.lists != 1 {
		t.Errorf("posts=%d runs=%d lists=%d, want 1 each", f.posts, len(f.runs), f.lists)
	}
	if !reflect.DeepEqual(f.bodies[0], wantKFPBody("req-k")) {
		got, _ := json.Marshal(f.bodies[0])
		exp, _ := json.Marshal(wantKFPBody("req-k"))
		t.Errorf("create body\n got %s\nwant %s", got, exp)
	}
	if f.badAuth != 0 {
		t.Errorf("%d requests without the bearer token", f.badAuth)
	}
}

// The create's answer is lost (502) after KFP stored the run: the redelivery finds it by its
// display name and follows it instead of creating a second one.
func TestKFPRedeliveryAdoptsTheRun(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	f := newFakeKFP(t, "RUNNING", "SUCCEEDED")
	f.createStatus = []int{http.StatusBadGateway}
	h.start(newKFPBridge(h, f))
	h.publish(evalTrigger("req-lost"), "")
	sts := h.waitFinals("req-lost", 1)
	h.waitAcked()
	if last := sts[len(sts)-1]; last.GetPhase() != jetflowv1.PipelineStatus_PHASE_SUCCEEDED {
		t.Errorf("final = %v", last)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.posts != 1 || len(f.runs) != 1 {
		t.Errorf("posts=%d runs=%d, want one run created once", f.posts, len(f.runs))
	}
	if f.lists != 2 {
		t.Errorf("lists=%d, want 2 (one per delivery)", f.lists)
	}
}

func TestKFPBadRequestIsDeadLetteredAtOnce(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	f := newFakeKFP(t, "SUCCEEDED")
	f.createStatus = []int{http.StatusNotFound}
	h.start(newKFPBridge(h, f))
	h.publish(evalTrigger("req-404"), "")
	dl := h.waitDeadLetters(1)[0]
	if n := deliveries(dl); n != 1 {
		t.Errorf("dead-lettered after %d deliveries, want 1", n)
	}
	reason := dl.Header.Get(stage.HeaderError)
	if !strings.Contains(reason, "HTTP 404") || !strings.Contains(reason, "pipeline version ver-1 not found") {
		t.Errorf("%s = %q", stage.HeaderError, reason)
	}
	if strings.Contains(reason, kfpToken) {
		t.Error("the token leaked into the dead letter")
	}
	if !strings.Contains(reason, "Bearer [REDACTED]") {
		t.Errorf("%s = %q, want the echoed token redacted", stage.HeaderError, reason)
	}
	if sts := h.statuses("req-404"); len(sts) != 0 {
		t.Errorf("%d statuses, want none", len(sts))
	}
}

func TestKFPFailedRun(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	f := newFakeKFP(t, "RUNNING", "FAILED")
	h.start(newKFPBridge(h, f))
	h.publish(evalTrigger("req-kf"), "")
	sts := h.waitFinals("req-kf", 1)
	last := sts[len(sts)-1]
	if last.GetPhase() != jetflowv1.PipelineStatus_PHASE_FAILED || last.GetMessage() != "task train failed" {
		t.Errorf("final = %v", last)
	}
	if dl := h.messages(streams.StreamDeadLetter, ""); len(dl) != 0 {
		t.Errorf("%d dead letters, want none", len(dl))
	}
}

func TestKFPRefusedTriggerSendsNothing(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	f := newFakeKFP(t, "SUCCEEDED")
	h.start(newKFPBridge(h, f))
	trig := evalTrigger("req-bad")
	trig.Parameters["threshold"] = "1.5; DROP TABLE runs"
	h.publish(trig, "")
	dl := h.waitDeadLetters(1)[0]
	if got := dl.Header.Get(stage.HeaderError); !strings.Contains(got, `parameter "threshold"`) {
		t.Errorf("%s = %q", stage.HeaderError, got)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.posts+f.lists != 0 {
		t.Errorf("KFP received %d requests, want none", f.posts+f.lists)
	}
}
