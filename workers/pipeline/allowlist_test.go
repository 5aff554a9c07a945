package pipeline

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jetflow-dev/jetflow/internal/failure"
	jetflowv1 "github.com/jetflow-dev/jetflow/proto/jetflow/v1"
)

const goodYAML = `
pipelines:
  rag-ingest:
    backend: argo
    template: rag-ingest-tmpl
    service_account: pipeline-runner
    labels: {team: ai}
    parameters:
      source: {pattern: '^s3://docs/[a-z0-9/_-]{1,200}$', required: true}
      chunk_size: {pattern: '^[0-9]{2,4}$', default: "512", type: integer}
      mode: {pattern: '^(fast|full)$'}
  nightly-eval:
    backend: kfp
    pipeline_id: 7c3c6f0e-1111-2222-3333-444455556666
    pipeline_version_id: 0b1d2e3f-aaaa-bbbb-cccc-ddddeeeeffff
    experiment_id: 5d2e0000-0000-0000-0000-000000000001
    parameters:
      threshold: {pattern: '^0\.[0-9]{1,3}$', type: number}
      dry_run: {pattern: '^(true|false)$', type: boolean, default: "false"}
`

func TestParseAllowList(t *testing.T) {
	tests := []struct {
		name       string
		data       string
		defBackend string
		wantErr    []string // substrings of the error, all required; none means success
		check      func(t *testing.T, l *AllowList)
	}{
		{
			name: "yaml with both backends",
			data: goodYAML,
			check: func(t *testing.T, l *AllowList) {
				if got := strings.Join(l.Names(), ","); got != "nightly-eval,rag-ingest" {
					t.Errorf("Names = %s", got)
				}
				p, _ := l.Pipeline("rag-ingest")
				if p.Backend != BackendArgo || p.Template != "rag-ingest-tmpl" || p.Labels["team"] != "ai" || p.ServiceAccount != "pipeline-runner" {
					t.Errorf("rag-ingest = %+v", p)
				}
				if !l.Uses(BackendArgo) || !l.Uses(BackendKFP) {
					t.Error("Uses should report both backends")
				}
			},
		},
		{
			name: "json",
			data: `{"pipelines":{"a":{"backend":"argo","template":"t","parameters":{"x":{"pattern":"^x$"}}}}}`,
			check: func(t *testing.T, l *AllowList) {
				if p, ok := l.Pipeline("a"); !ok || p.Parameters["x"].re == nil {
					t.Errorf("pattern not compiled: %+v", p)
				}
			},
		},
		{
			name:       "default backend applies",
			data:       `{"pipelines":{"a":{"template":"t"}}}`,
			defBackend: BackendArgo,
			check: func(t *testing.T, l *AllowList) {
				if p, _ := l.Pipeline("a"); p.Backend != BackendArgo {
					t.Errorf("backend = %q", p.Backend)
				}
			},
		},
		{name: "not yaml", data: "pipelines: [", wantErr: []string{"decoding"}},
		{name: "empty", data: "", wantErr: []string{"lists no pipelines"}},
		{name: "no pipelines key", data: "other: 1", wantErr: []string{"decoding", "other"}},
		{name: "unknown field is a typo", data: "pipelines: {a: {backend: argo, template: t, temlpate: u}}", wantErr: []string{"temlpate"}},
		{name: "unknown parameter field", data: "pipelines: {a: {backend: argo, template: t, parameters: {x: {pattern: '^x$', requird: true}}}}", wantErr: []string{"requird"}},
		{name: "duplicate key", data: "pipelines:\n  a: {backend: argo, template: t}\n  a: {backend: argo, template: u}\n", wantErr: []string{"decoding"}},
		{name: "bad pipeline name", data: "pipelines: {Rag_Ingest: {backend: argo, template: t}}", wantErr: []string{`pipeline "Rag_Ingest": name`}},
		{name: "pipeline name too long", data: "pipelines: {" + strings.Repeat("a", 64) + ": {backend: argo, template: t}}", wantErr: []string{"name: must be 1..63"}},
		{name: "no backend and no default", data: "pipelines: {a: {template: t}}", wantErr: []string{`pipeline "a": backend: is required`}},
		{name: "unknown backend", data: "pipelines: {a: {backend: airflow, template: t}}", wantErr: []string{`pipeline "a": backend: "airflow"`}},
		{name: "bad default backend", data: "pipelines: {a: {template: t}}", defBackend: "airflow", wantErr: []string{`default backend "airflow"`}},
		{name: "argo without template", data: "pipelines: {a: {backend: argo}}", wantErr: []string{`pipeline "a": template: is required`}},
		{name: "argo template not a name", data: "pipelines: {a: {backend: argo, template: Bad_Name}}", wantErr: []string{`pipeline "a": template: "Bad_Name"`}},
		{name: "argo with kfp fields", data: "pipelines: {a: {backend: argo, template: t, pipeline_id: p}}", wantErr: []string{`pipeline "a": pipeline_id: is for backend kfp`}},
		{name: "kfp without ids", data: "pipelines: {a: {backend: kfp}}", wantErr: []string{`pipeline "a": pipeline_id: is required`, `pipeline "a": pipeline_version_id: is required`}},
		{name: "kfp with template", data: "pipelines: {a: {backend: kfp, pipeline_id: p, pipeline_version_id: v, template: t}}", wantErr: []string{`pipeline "a": template: is for backend argo`}},
		{name: "kfp with labels", data: "pipelines: {a: {backend: kfp, pipeline_id: p, pipeline_version_id: v, labels: {x: y}}}", wantErr: []string{`pipeline "a": labels`}},
		{name: "kfp id with slash", data: "pipelines: {a: {backend: kfp, pipeline_id: ../p, pipeline_version_id: v}}", wantErr: []string{"pipeline_id"}},
		{name: "reserved label", data: "pipelines: {a: {backend: argo, template: t, labels: {jetflow.dev/request-id: x}}}", wantErr: []string{"labels.jetflow.dev/request-id: keys under jetflow.dev/"}},
		{name: "bad label value", data: "pipelines: {a: {backend: argo, template: t, labels: {team: 'a b'}}}", wantErr: []string{"labels.team: value"}},
		{name: "bad service account", data: "pipelines: {a: {backend: argo, template: t, service_account: 'Not OK'}}", wantErr: []string{"service_account"}},
		{name: "parameter without pattern", data: "pipelines: {a: {backend: argo, template: t, parameters: {x: {required: true}}}}", wantErr: []string{`pipeline "a": parameters.x.pattern: is required`}},
		{name: "parameter null", data: "pipelines: {a: {backend: argo, template: t, parameters: {x: null}}}", wantErr: []string{`parameters.x: pattern is required`}},
		{name: "pattern does not compile", data: "pipelines: {a: {backend: argo, template: t, parameters: {x: {pattern: '^(x$'}}}}", wantErr: []string{`pipeline "a": parameters.x.pattern: does not compile`}},
		{name: "pattern not anchored", data: "pipelines: {a: {backend: argo, template: t, parameters: {x: {pattern: '[a-z]+'}}}}", wantErr: []string{`parameters.x.pattern: "[a-z]+" must be anchored`}},
		{name: "pattern anchored at start only", data: "pipelines: {a: {backend: argo, template: t, parameters: {x: {pattern: '^[a-z]+'}}}}", wantErr: []string{"must be anchored"}},
		{name: "alternation escapes the anchors", data: "pipelines: {a: {backend: argo, template: t, parameters: {x: {pattern: '^a|b$'}}}}", wantErr: []string{"must be anchored"}},
		{name: "multi-line anchors", data: "pipelines: {a: {backend: argo, template: t, parameters: {x: {pattern: '(?m)^a$'}}}}", wantErr: []string{"must be anchored"}},
		{name: "bad parameter name", data: "pipelines: {a: {backend: argo, template: t, parameters: {'1x': {pattern: '^x$'}}}}", wantErr: []string{"parameters.1x: name must match"}},
		{name: "default fails pattern", data: "pipelines: {a: {backend: argo, template: t, parameters: {x: {pattern: '^[0-9]+$', default: abc}}}}", wantErr: []string{"parameters.x.default: value (3 bytes) does not match"}},
		{name: "default on required", data: "pipelines: {a: {backend: argo, template: t, parameters: {x: {pattern: '^x$', required: true, default: x}}}}", wantErr: []string{"parameters.x.default: is never used"}},
		{name: "default not of its type", data: "pipelines: {a: {backend: argo, template: t, parameters: {x: {pattern: '^[0-9a-z]+$', type: integer, default: abc}}}}", wantErr: []string{"is not an integer"}},
		{name: "unknown type", data: "pipelines: {a: {backend: argo, template: t, parameters: {x: {pattern: '^x$', type: list}}}}", wantErr: []string{`parameters.x.type: "list"`}},
		{
			name:    "every problem reported",
			data:    "pipelines: {a: {backend: argo}, b: {backend: kfp, pipeline_id: p}}",
			wantErr: []string{`pipeline "a": template`, `pipeline "b": pipeline_version_id`},
		},
		{name: "too large", data: "pipelines: {}" + strings.Repeat(" ", MaxAllowListBytes), wantErr: []string{"larger than"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := ParseAllowList([]byte(tt.data), tt.defBackend)
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Fatalf("ParseAllowList: %v", err)
				}
				if tt.check != nil {
					tt.check(t, l)
				}
				return
			}
			if err == nil {
				t.Fatalf("ParseAllowList succeeded, want an error containing %q", tt.wantErr)
			}
			if !errors.Is(err, ErrInvalidAllowList) {
				t.Errorf("error does not match ErrInvalidAllowList: %v", err)
			}
			for _, want := range tt.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
		})
	}
}

func TestLoadAllowList(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "pipelines.yaml")
	if err := os.WriteFile(good, []byte(goodYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadAllowList(good, ""); err != nil {
		t.Fatalf("LoadAllowList(good): %v", err)
	}
	_, err := LoadAllowList(filepath.Join(dir, "missing.yaml"), "")
	if !errors.Is(err, ErrInvalidAllowList) || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("LoadAllowList(missing) = %v, want ErrInvalidAllowList and ErrNotExist", err)
	}
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("pipelines: {a: {backend: argo}}"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadAllowList(bad, ""); err == nil || !strings.Contains(err.Error(), bad) {
		t.Fatalf("LoadAllowList(bad) = %v, want an error naming the file", err)
	}
}

func TestAnchored(t *testing.T) {
	tests := []struct {
		pattern string
		want    bool
	}{
		{`^abc$`, true},
		{`^(a|b)$`, true},
		{`^a$|^b$`, true},
		{`^$`, true},
		{`\Aa\z`, true},
		{`^(?:x+)$`, true},
		{`^a(b|c)d$`, true},
		{`abc`, false},
		{`^abc`, false},
		{`abc$`, false},
		{`^a|b$`, false},
		{`(?m)^a$`, false},
		{`^a\$`, false},
		{`^`, false},
		{`(^a)|b$`, false},
	}
	for _, tt := range tests {
		t.Run(tt.pattern, func(t *testing.T) {
			if got := anchored(tt.pattern); got != tt.want {
				t.Errorf("anchored(%q) = %v, want %v", tt.pattern, got, tt.want)
			}
		})
	}
}

func TestResolve(t *testing.T) {
	l, err := ParseAllowList([]byte(goodYAML), "")
	if err != nil {
		t.Fatal(err)
	}
	trig := func(pipeline string, params map[string]string) *jetflowv1.PipelineTrigger {
		return &jetflowv1.PipelineTrigger{RequestId: "req-1", UserId: "ana", Pipeline: pipeline, Parameters: params}
	}
	tests := []struct {
		name       string
		trigger    *jetflowv1.PipelineTrigger
		wantParams []Param
		wantErr    []string
	}{
		{
			name:    "defaults fill what is left out",
			trigger: trig("rag-ingest", map[string]string{"source": "s3://docs/a/b"}),
			wantParams: []Param{
				{Name: "chunk_size", Value: "512", Typed: int64(512)},
				{Name: "source", Value: "s3://docs/a/b", Typed: "s3://docs/a/b"},
			},
		},
		{
			name:    "given values win and optional ones pass",
			trigger: trig("rag-ingest", map[string]string{"source": "s3://docs/x", "chunk_size": "64", "mode": "fast"}),
			wantParams: []Param{
				{Name: "chunk_size", Value: "64", Typed: int64(64)},
				{Name: "mode", Value: "fast", Typed: "fast"},
				{Name: "source", Value: "s3://docs/x", Typed: "s3://docs/x"},
			},
		},
		{
			name:    "typed kfp values",
			trigger: trig("nightly-eval", map[string]string{"threshold": "0.75"}),
			wantParams: []Param{
				{Name: "dry_run", Value: "false", Typed: false},
				{Name: "threshold", Value: "0.75", Typed: 0.75},
			},
		},
		{name: "unknown pipeline", trigger: trig("drop-tables", nil), wantErr: []string{`pipeline "drop-tables" is not allowed`}},
		{name: "unknown parameter", trigger: trig("rag-ingest", map[string]string{"source": "s3://docs/a", "image": "evil"}), wantErr: []string{`parameter "image" is not allowed`}},
		{name: "missing required", trigger: trig("rag-ingest", nil), wantErr: []string{`parameter "source" is required`}},
		{name: "value fails pattern", trigger: trig("rag-ingest", map[string]string{"source": "s3://docs/a; rm -rf /"}), wantErr: []string{`parameter "source": value (21 bytes) does not match`}},
		{name: "newline smuggled after a good value", trigger: trig("rag-ingest", map[string]string{"source": "s3://docs/a\nx"}), wantErr: []string{`parameter "source"`}},
		{name: "partial match is no match", trigger: trig("rag-ingest", map[string]string{"source": "s3://docs/a", "mode": "fastest"}), wantErr: []string{`parameter "mode"`}},
		{
			name:    "every problem named",
			trigger: trig("rag-ingest", map[string]string{"chunk_size": "1", "zzz": "1"}),
			wantErr: []string{`parameter "chunk_size"`, `parameter "zzz" is not allowed`, `parameter "source" is required`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			run, err := l.Resolve(tt.trigger)
			if len(tt.wantErr) > 0 {
				if err == nil {
					t.Fatalf("Resolve accepted it: %+v", run)
				}
				if !errors.Is(err, ErrNotAllowed) || !errors.Is(err, failure.ErrInvalid) || !failure.IsPermanent(err) {
					t.Errorf("error %v must match ErrNotAllowed and failure.ErrInvalid and be permanent", err)
				}
				for _, want := range tt.wantErr {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("error %q does not contain %q", err, want)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("Resolve: %v", err)
			}
			if run.Name != RunName(tt.trigger.GetPipeline(), "req-1") || run.UserID != "ana" {
				t.Errorf("run = %+v", run)
			}
			if len(run.Parameters) != len(tt.wantParams) {
				t.Fatalf("parameters = %+v, want %+v", run.Parameters, tt.wantParams)
			}
			for i, p := range run.Parameters {
				if p != tt.wantParams[i] {
					t.Errorf("parameter %d = %#v, want %#v", i, p, tt.wantParams[i])
				}
			}
		})
	}
}

func TestRunName(t *testing.T) {
	long := strings.Repeat("p", 63)
	tests := []struct {
		name, pipeline, requestID string
		wantPrefix                string
	}{
		{"short", "rag-ingest", "req-1", "rag-ingest-"},
		{"long pipeline is cut", long, "req-1", strings.Repeat("p", 46) + "-"},
		{"edge dashes go", "-a-", "req-1", "a-"},
		{"cut lands on a dash", strings.Repeat("a", 45) + "-b", "r", strings.Repeat("a", 45) + "-"},
		{"only dashes", "---", "r", "run-"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := RunName(tt.pipeline, tt.requestID)
			if !strings.HasPrefix(got, tt.wantPrefix) || len(got) > 63 || len(got) != len(tt.wantPrefix)+hashLen {
				t.Errorf("RunName = %q, want %q + %d hex digits, at most 63", got, tt.wantPrefix, hashLen)
			}
			if !dns1123Label(got) {
				t.Errorf("RunName = %q is not a DNS-1123 label", got)
			}
			if again := RunName(tt.pipeline, tt.requestID); again != got {
				t.Errorf("RunName is not deterministic: %q then %q", got, again)
			}
		})
	}
	if RunName("p", "a") == RunName("p", "b") {
		t.Error("different request ids got the same name")
	}
}

func dns1123Label(s string) bool {
	if len(s) == 0 || len(s) > 63 || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isLower(c) && !isDigit(c) && c != '-' {
			return false
		}
	}
	return true
}

func TestRequestIDLabel(t *testing.T) {
	if got := requestIDLabel("req-1"); got != "req-1" {
		t.Errorf("valid label value changed: %q", got)
	}
	for _, id := range []string{"-starts-with-dash", strings.Repeat("x", 64), "ends_"} {
		got := requestIDLabel(id)
		if !strings.HasPrefix(got, "sha256-") || len(got) != len("sha256-")+hashLen {
			t.Errorf("requestIDLabel(%q) = %q, want a hash", id, got)
		}
	}
}

// FuzzParseAllowList: no input makes the decoder panic, and whatever it accepts holds only
// valid names with compiled, anchored patterns.
func FuzzParseAllowList(f *testing.F) {
	f.Add([]byte(goodYAML))
	f.Add([]byte(`{"pipelines":{"a":{"backend":"argo","template":"t","parameters":{"x":{"pattern":"^x$","default":"x"}}}}}`))
	f.Add([]byte("pipelines: {a: {backend: kfp, pipeline_id: p, pipeline_version_id: v}}"))
	f.Add([]byte("pipelines: {a: {backend: argo, template: t, parameters: {x: {pattern: '^a|b$'}}}}"))
	f.Add([]byte("pipelines:\n  a: &x {backend: argo, template: t}\n  b: *x\n"))
	f.Add([]byte("pipelines: [1, 2]"))
	f.Add([]byte("{"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, data []byte) {
		l, err := ParseAllowList(data, BackendArgo)
		if err != nil {
			if !errors.Is(err, ErrInvalidAllowList) {
				t.Fatalf("error does not match ErrInvalidAllowList: %v", err)
			}
			return
		}
		for _, name := range l.Names() {
			p, _ := l.Pipeline(name)
			if !jetflowv1.ValidPipelineName(name) || (p.Backend != BackendArgo && p.Backend != BackendKFP) {
				t.Fatalf("accepted pipeline %q with backend %q", name, p.Backend)
			}
			for pn, pa := range p.Parameters {
				if pa.re == nil || !anchored(pa.Pattern) {
					t.Fatalf("parameter %s.%s accepted without an anchored compiled pattern", name, pn)
				}
			}
		}
	})
}
