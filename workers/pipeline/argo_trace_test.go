package pipeline

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	"github.com/jetflow-dev/jetflow/internal/breaker"
)

// A Kubernetes call made through a config traceKubernetes wrapped carries traceparent, and its
// call span records what the API server answered.
func TestKubernetesCallIsTraced(t *testing.T) {
	var received []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		received = append(received, r.Header.Get("traceparent"))
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"apiVersion":"argoproj.io/v1alpha1","kind":"Workflow","metadata":{"name":"nightly-1","namespace":"ml"},"status":{"phase":"Running"}}`))
	}))
	t.Cleanup(srv.Close)
	cfg := &rest.Config{Host: srv.URL}
	traceKubernetes(cfg)
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	a := newArgoBackend(dyn, testNamespace, breaker.New(StageName, upstreamKubernetes, breaker.Settings{}), 0)
	ctx, stage, exp := recordedSpan(t)
	obs, err := a.observe(ctx, &Run{Name: "nightly-1"}, "nightly-1")
	if err != nil {
		t.Fatal(err)
	}
	stage.End()
	if obs.phase.String() != "PHASE_RUNNING" {
		t.Fatalf("phase = %v", obs.phase)
	}
	checkCallSpan(t, exp, stage, upstreamKubernetes, http.StatusOK, received)
}
