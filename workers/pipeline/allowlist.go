package pipeline

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"regexp"
	"regexp/syntax"
	"slices"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"

	jetflowv1 "github.com/jetflow-dev/jetflow/proto/jetflow/v1"
)

// Backends, as written in the allow-list.
const (
	BackendArgo = "argo"
	BackendKFP  = "kfp"
)

// Parameter types: how a value is checked and how it is sent to KFP, whose runtime parameters
// are typed. Argo parameters are always strings.
const (
	TypeString  = "string"
	TypeInteger = "integer"
	TypeNumber  = "number"
	TypeBoolean = "boolean"
)

// MaxAllowListBytes bounds an allow-list file.
const MaxAllowListBytes = 1 << 20

// labelPrefix is reserved for the labels and annotations the bridge sets itself.
const labelPrefix = "jetflow.dev/"

// AllowList is the set of pipelines the bridge may start, each with the parameters it accepts.
// It is read-only after parsing and safe for concurrent use. The zero value allows nothing.
//
// The file is YAML or JSON (JSON is YAML):
//
//	pipelines:
//	  rag-ingest:
//	    backend: argo                 # argo | kfp; PIPELINE_BACKEND when left out
//	    template: rag-ingest          # argo: the WorkflowTemplate
//	    service_account: pipeline-runner
//	    labels: {team: ai}
//	    parameters:
//	      source: {pattern: '^s3://docs/[a-z0-9/_-]{1,200}$', required: true}
//	      chunk_size: {pattern: '^[0-9]{2,4}$', default: "512", type: integer}
//	  nightly-eval:
//	    backend: kfp
//	    pipeline_id: 7c3c6f0e-...    # kfp: the pipeline and its pinned version
//	    pipeline_version_id: 0b1d...
//	    experiment_id: 5d2e...        # optional
//
// Unknown fields and duplicate keys are errors, so a typo cannot silently widen what is allowed.
type AllowList struct {
	pipelines map[string]*Pipeline
}

// Pipeline is one allow-listed pipeline.
type Pipeline struct {
	// Name is the key under "pipelines", [a-z0-9-]{1,63}; triggers name it.
	Name string `json:"-"`
	// Backend is BackendArgo or BackendKFP.
	Backend string `json:"backend,omitempty"`
	// Template is the Argo WorkflowTemplate the Workflow references (argo only, required).
	Template string `json:"template,omitempty"`
	// PipelineID and PipelineVersionID pin the KFP pipeline version that runs (kfp only,
	// required: an allow-list entry names exactly what may run, not "whatever is latest").
	PipelineID        string `json:"pipeline_id,omitempty"`
	PipelineVersionID string `json:"pipeline_version_id,omitempty"`
	// ExperimentID puts KFP runs in an experiment (kfp only, optional: the default experiment).
	ExperimentID string `json:"experiment_id,omitempty"`
	// ServiceAccount runs the pipeline's pods as this Kubernetes service account (optional: the
	// template's or KFP's default).
	ServiceAccount string `json:"service_account,omitempty"`
	// Labels are added to the Argo Workflow (optional). Keys under jetflow.dev/ are reserved.
	Labels map[string]string `json:"labels,omitempty"`
	// Parameters are the only parameters a trigger may pass.
	Parameters map[string]*Parameter `json:"parameters,omitempty"`
}

// Parameter says which values a trigger may give one parameter.
type Parameter struct {
	// Pattern is a Go regular expression the whole value must match. Required, and it must be
	// anchored (^...$) so that the writer says what the whole value looks like.
	Pattern string `json:"pattern"`
	// Required parameters must be in every trigger.
	Required bool `json:"required,omitempty"`
	// Default is used when a trigger leaves an optional parameter out; unset means the
	// parameter is left out too (the template's own default applies). It must match Pattern.
	Default *string `json:"default,omitempty"`
	// Type is TypeString (empty means string), TypeInteger, TypeNumber or TypeBoolean. Values
	// must parse as the type; KFP receives them as JSON numbers or booleans.
	Type string `json:"type,omitempty"`

	re *regexp.Regexp
}

type allowListFile struct {
	Pipelines map[string]*Pipeline `json:"pipelines"`
}

// LoadAllowList reads and parses an allow-list file; see ParseAllowList.
func LoadAllowList(path, defaultBackend string) (*AllowList, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidAllowList, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxAllowListBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%w: reading %s: %w", ErrInvalidAllowList, path, err)
	}
	l, err := ParseAllowList(data, defaultBackend)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return l, nil
}

// ParseAllowList decodes and checks an allow-list (YAML or JSON). defaultBackend is the backend
// of entries that name none ("" means every entry must name its own). Every problem is
// reported, each naming the pipeline and the field.
func ParseAllowList(data []byte, defaultBackend string) (*AllowList, error) {
	if len(data) > MaxAllowListBytes {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrInvalidAllowList, MaxAllowListBytes)
	}
	if defaultBackend != "" && defaultBackend != BackendArgo && defaultBackend != BackendKFP {
		return nil, fmt.Errorf("%w: default backend %q is not %q or %q", ErrInvalidAllowList, defaultBackend, BackendArgo, BackendKFP)
	}
	var file allowListFile
	if err := yaml.UnmarshalStrict(data, &file); err != nil {
		return nil, fmt.Errorf("%w: decoding: %w", ErrInvalidAllowList, err)
	}
	if len(file.Pipelines) == 0 {
		return nil, fmt.Errorf("%w: lists no pipelines (expected a \"pipelines\" map)", ErrInvalidAllowList)
	}
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(file.Pipelines)) {
		p := file.Pipelines[name]
		if p == nil {
			p = &Pipeline{}
			file.Pipelines[name] = p
		}
		p.Name = name
		if p.Backend == "" {
			p.Backend = defaultBackend
		}
		for _, err := range p.check() {
			errs = append(errs, fmt.Errorf("pipeline %q: %w", name, err))
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("%w: %w", ErrInvalidAllowList, errors.Join(errs...))
	}
	return &AllowList{pipelines: file.Pipelines}, nil
}

// check validates one entry and compiles its patterns.
func (p *Pipeline) check() []error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	}
	if !jetflowv1.ValidPipelineName(p.Name) {
		bad("name", "must be 1..%d characters of [a-z0-9-]", jetflowv1.MaxPipelineNameLen)
	}
	switch p.Backend {
	case BackendArgo:
		if p.Template == "" {
			bad("template", "is required for backend argo")
		} else if msgs := validation.IsDNS1123Subdomain(p.Template); len(msgs) > 0 {
			bad("template", "%q is not a Kubernetes object name: %s", p.Template, strings.Join(msgs, "; "))
		}
		for field, v := range map[string]string{"pipeline_id": p.PipelineID, "pipeline_version_id": p.PipelineVersionID, "experiment_id": p.ExperimentID} {
			if v != "" {
				bad(field, "is for backend kfp, not argo")
			}
		}
	case BackendKFP:
		if p.Template != "" {
			bad("template", "is for backend argo, not kfp")
		}
		if len(p.Labels) > 0 {
			bad("labels", "are for backend argo: KFP runs have no labels")
		}
		for field, v := range map[string]string{"pipeline_id": p.PipelineID, "pipeline_version_id": p.PipelineVersionID} {
			if !validKFPID(v) {
				bad(field, "is required for backend kfp: 1..128 characters of [A-Za-z0-9._-]")
			}
		}
		if p.ExperimentID != "" && !validKFPID(p.ExperimentID) {
			bad("experiment_id", "must be 1..128 characters of [A-Za-z0-9._-]")
		}
	case "":
		bad("backend", "is required (%q or %q) when PIPELINE_BACKEND sets no default", BackendArgo, BackendKFP)
	default:
		bad("backend", "%q is not %q or %q", p.Backend, BackendArgo, BackendKFP)
	}
	if p.ServiceAccount != "" {
		if msgs := validation.IsDNS1123Subdomain(p.ServiceAccount); len(msgs) > 0 {
			bad("service_account", "%q is not a Kubernetes object name: %s", p.ServiceAccount, strings.Join(msgs, "; "))
		}
	}
	for _, k := range slices.Sorted(maps.Keys(p.Labels)) {
		if strings.HasPrefix(k, labelPrefix) {
			bad("labels."+k, "keys under %s are set by the bridge", labelPrefix)
		}
		if msgs := validation.IsQualifiedName(k); len(msgs) > 0 {
			bad("labels."+k, "is not a label key: %s", strings.Join(msgs, "; "))
		}
		if msgs := validation.IsValidLabelValue(p.Labels[k]); len(msgs) > 0 {
			bad("labels."+k, "value %q is not a label value: %s", p.Labels[k], strings.Join(msgs, "; "))
		}
	}
	for _, name := range slices.Sorted(maps.Keys(p.Parameters)) {
		field := "parameters." + name
		if !jetflowv1.ValidParameterKey(name) {
			bad(field, "name must match [A-Za-z_][A-Za-z0-9_-]{0,%d}", jetflowv1.MaxParameterKeyLen-1)
		}
		if p.Parameters[name] == nil {
			bad(field, "pattern is required")
			continue
		}
		for _, err := range p.Parameters[name].compile() {
			errs = append(errs, fmt.Errorf("%s.%w", field, err))
		}
	}
	return errs
}

// compile checks one parameter and compiles its pattern.
func (pa *Parameter) compile() []error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	}
	switch pa.Type {
	case "", TypeString, TypeInteger, TypeNumber, TypeBoolean:
	default:
		bad("type", "%q is not %s, %s, %s or %s", pa.Type, TypeString, TypeInteger, TypeNumber, TypeBoolean)
	}
	if pa.Pattern == "" {
		bad("pattern", "is required (an anchored regular expression, ^...$)")
		return errs
	}
	re, err := regexp.Compile(pa.Pattern)
	if err != nil {
		bad("pattern", "does not compile: %v", err)
		return errs
	}
	if !anchored(pa.Pattern) {
		bad("pattern", "%q must be anchored at both ends (^...$, every alternative included)", pa.Pattern)
		return errs
	}
	pa.re = re
	if pa.Default != nil {
		if pa.Required {
			bad("default", "is never used: the parameter is required")
		}
		if err := pa.check(*pa.Default); err != nil {
			bad("default", "%v", err)
		}
	}
	return errs
}

// check reports whether value is acceptable; the error does not quote the value.
func (pa *Parameter) check(value string) error {
	if pa.re == nil || !pa.re.MatchString(value) {
		return fmt.Errorf("value (%d bytes) does not match %s", len(value), pa.Pattern)
	}
	if _, err := pa.typed(value); err != nil {
		return err
	}
	return nil
}

// typed converts value to what KFP receives: a string, an int64, a float64 or a bool.
func (pa *Parameter) typed(value string) (any, error) {
	switch pa.Type {
	case TypeInteger:
		n, err := strconv.ParseInt(value, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("value %q is not an integer", truncate(value, 32))
		}
		return n, nil
	case TypeNumber:
		f, err := strconv.ParseFloat(value, 64)
		if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			return nil, fmt.Errorf("value %q is not a finite number", truncate(value, 32))
		}
		return f, nil
	case TypeBoolean:
		b, err := strconv.ParseBool(value)
		if err != nil {
			return nil, fmt.Errorf("value %q is not true or false", truncate(value, 32))
		}
		return b, nil
	default:
		return value, nil
	}
}

// anchored reports whether every match of pattern must span the whole input: the parsed
// expression begins with \A (^ outside multi-line mode) and ends with \z ($ likewise), in every
// top-level alternative. "^a|b$" is not anchored; "^(a|b)$" is.
func anchored(pattern string) bool {
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return false
	}
	return anchoredRe(re.Simplify())
}

func anchoredRe(re *syntax.Regexp) bool {
	switch re.Op {
	case syntax.OpCapture:
		return anchoredRe(re.Sub[0])
	case syntax.OpAlternate:
		for _, s := range re.Sub {
			if !anchoredRe(s) {
				return false
			}
		}
		return true
	case syntax.OpConcat:
		if len(re.Sub) < 2 {
			return false
		}
		return startsAnchored(re.Sub[0]) && endsAnchored(re.Sub[len(re.Sub)-1])
	}
	return false
}

func startsAnchored(re *syntax.Regexp) bool {
	switch re.Op {
	case syntax.OpBeginText:
		return true
	case syntax.OpCapture:
		return startsAnchored(re.Sub[0])
	case syntax.OpConcat:
		return len(re.Sub) > 0 && startsAnchored(re.Sub[0])
	case syntax.OpAlternate:
		for _, s := range re.Sub {
			if !startsAnchored(s) {
				return false
			}
		}
		return true
	}
	return false
}

func endsAnchored(re *syntax.Regexp) bool {
	switch re.Op {
	case syntax.OpEndText:
		return true
	case syntax.OpCapture:
		return endsAnchored(re.Sub[0])
	case syntax.OpConcat:
		return len(re.Sub) > 0 && endsAnchored(re.Sub[len(re.Sub)-1])
	case syntax.OpAlternate:
		for _, s := range re.Sub {
			if !endsAnchored(s) {
				return false
			}
		}
		return true
	}
	return false
}

// Names returns the allowed pipeline names, sorted.
func (l *AllowList) Names() []string {
	if l == nil {
		return nil
	}
	return slices.Sorted(maps.Keys(l.pipelines))
}

// Pipeline returns the entry for name.
func (l *AllowList) Pipeline(name string) (*Pipeline, bool) {
	if l == nil {
		return nil, false
	}
	p, ok := l.pipelines[name]
	return p, ok
}

// Uses reports whether any pipeline runs on backend, so that the bridge connects only to the
// backends it needs.
func (l *AllowList) Uses(backend string) bool {
	if l == nil {
		return false
	}
	for _, p := range l.pipelines {
		if p.Backend == backend {
			return true
		}
	}
	return false
}

func validKFPID(s string) bool {
	if len(s) == 0 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isLower(c) && !isUpper(c) && !isDigit(c) && c != '-' && c != '_' && c != '.' {
			return false
		}
	}
	return true
}

func isLower(c byte) bool { return c >= 'a' && c <= 'z' }
func isUpper(c byte) bool { return c >= 'A' && c <= 'Z' }
func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
