package pipeline

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	metricnoop "go.opentelemetry.io/otel/metric/noop"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/jetflow-dev/jetflow/internal/devkit/jstest"
	"github.com/jetflow-dev/jetflow/internal/devkit/testplatform"
	"github.com/jetflow-dev/jetflow/internal/envconfig"
	"github.com/jetflow-dev/jetflow/internal/telemetry"
	"github.com/jetflow-dev/jetflow/internal/worker"
)

const testKubeconfig = `apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:6443"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
`

func TestBuild(t *testing.T) {
	dir := t.TempDir()
	kubeconfig := filepath.Join(dir, "kubeconfig")
	tokenFile := filepath.Join(dir, "token")
	listFile := filepath.Join(dir, "pipelines.yaml")
	for path, data := range map[string]string{kubeconfig: testKubeconfig, tokenFile: "tok", listFile: argoAllowList} {
		if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	argoJSON := `{"pipelines":{"a":{"template":"t"}}}`
	tests := []struct {
		name    string
		env     map[string]string
		wantErr []string
	}{
		{name: "argo from a file", env: map[string]string{"PIPELINES_FILE": listFile, "KUBECONFIG": kubeconfig}},
		{name: "argo inline with default backend", env: map[string]string{"PIPELINES_JSON": argoJSON, "PIPELINE_BACKEND": "argo", "KUBECONFIG": kubeconfig, "ARGO_NAMESPACE": "ml"}},
		{name: "kfp with token file", env: map[string]string{"PIPELINES_JSON": kfpAllowList, "KFP_URL": "http://ml-pipeline.kubeflow:8888", "KFP_TOKEN_FILE": tokenFile}},
		{name: "kfp with token", env: map[string]string{"PIPELINES_JSON": kfpAllowList, "KFP_URL": "http://ml-pipeline.kubeflow:8888", "KFP_TOKEN": "t", "PIPELINE_CONCURRENCY": "64", "PIPELINE_POLL_INTERVAL": "10s"}},
		{name: "no allow-list", env: map[string]string{}, wantErr: []string{"PIPELINES_FILE: is required"}},
		{name: "two allow-lists", env: map[string]string{"PIPELINES_FILE": listFile, "PIPELINES_JSON": argoJSON}, wantErr: []string{"both set"}},
		{name: "missing file", env: map[string]string{"PIPELINES_FILE": filepath.Join(dir, "nope.yaml")}, wantErr: []string{"PIPELINES_FILE", "cannot be read"}},
		{name: "bad allow-list", env: map[string]string{"PIPELINES_JSON": `{"pipelines":{"a":{"backend":"argo"}}}`}, wantErr: []string{"PIPELINES_JSON", `pipeline "a": template`}},
		{name: "bad default backend", env: map[string]string{"PIPELINES_JSON": argoJSON, "PIPELINE_BACKEND": "airflow"}, wantErr: []string{"PIPELINE_BACKEND"}},
		{name: "kfp without url", env: map[string]string{"PIPELINES_JSON": kfpAllowList}, wantErr: []string{"KFP_URL: is required"}},
		{name: "kfp with two tokens", env: map[string]string{"PIPELINES_JSON": kfpAllowList, "KFP_URL": "http://kfp", "KFP_TOKEN": "s3cret-xyz", "KFP_TOKEN_FILE": tokenFile}, wantErr: []string{"KFP_TOKEN: and KFP_TOKEN_FILE"}},
		{name: "bad kubeconfig", env: map[string]string{"PIPELINES_JSON": argoJSON, "PIPELINE_BACKEND": "argo", "KUBECONFIG": tokenFile}, wantErr: []string{"reading kubeconfig"}},
		{name: "bad tuning", env: map[string]string{"PIPELINES_JSON": argoJSON, "PIPELINE_BACKEND": "argo", "KUBECONFIG": kubeconfig, "PIPELINE_CONCURRENCY": "0", "ARGO_NAMESPACE": "Not_A_Namespace", "PIPELINE_BREAKER_FAILURES": "x"},
			wantErr: []string{"PIPELINE_CONCURRENCY", "ARGO_NAMESPACE", "PIPELINE_BREAKER_FAILURES"}},
	}
	// streams/ applied: a KFP bridge opens its run-name bucket.
	p := testplatform.New(t)
	nc, js := p.NC, p.JS
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := &worker.Env{
				Name:      "pipeline-bridge",
				Log:       slog.New(slog.DiscardHandler),
				Config:    envconfig.New(envconfig.Map(tt.env)),
				NC:        nc,
				JS:        js,
				Telemetry: &telemetry.Providers{Tracer: tracenoop.NewTracerProvider(), Meter: metricnoop.NewMeterProvider()},
			}
			runners, err := Build(jstest.Context(t), env)
			if err == nil {
				err = env.Config.Err()
			}
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Fatalf("Build: %v", err)
				}
				if len(runners) != 1 || runners[0].Name() != StageName {
					t.Fatalf("runners = %v, want the %s stage", runners, StageName)
				}
				return
			}
			if err == nil {
				t.Fatalf("Build succeeded, want an error containing %q", tt.wantErr)
			}
			for _, want := range tt.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
			if tok := tt.env["KFP_TOKEN"]; tok != "" && strings.Contains(err.Error(), tok) {
				t.Errorf("error quotes the token: %v", err)
			}
		})
	}
}

func TestNewRefusesMissingClients(t *testing.T) {
	if _, err := New(mustAllowList(t, argoAllowList), Settings{}, Clients{}, nil, nil); err == nil || !strings.Contains(err.Error(), "Kubernetes client") {
		t.Errorf("New without a Kubernetes client = %v", err)
	}
	if _, err := New(mustAllowList(t, kfpAllowList), Settings{}, Clients{}, nil, nil); err == nil || !strings.Contains(err.Error(), "KFP URL") {
		t.Errorf("New without a KFP URL = %v", err)
	}
	if _, err := New(&AllowList{}, Settings{}, Clients{}, nil, nil); err == nil {
		t.Error("New with an empty allow-list succeeded")
	}
	if _, err := New(mustAllowList(t, argoAllowList), Settings{Concurrency: -1}, Clients{Kubernetes: newFakeArgo(t)}, nil, nil); err == nil {
		t.Error("New with negative concurrency succeeded")
	}
}
