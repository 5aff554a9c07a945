package pipeline

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/jetflow-dev/jetflow/internal/failure"
	jetflowv1 "github.com/jetflow-dev/jetflow/proto/jetflow/v1"
)

// Run is a trigger the allow-list accepted: what to start, under which name.
type Run struct {
	RequestID string
	SessionID string
	UserID    string
	// Pipeline is the allow-list entry.
	Pipeline *Pipeline
	// Name is the run's name in the backend, RunName(pipeline, request id).
	Name string
	// Parameters are the trigger's parameters plus the defaults of those it left out, sorted by
	// name.
	Parameters []Param
}

// Param is one parameter of a run.
type Param struct {
	Name  string
	Value string
	// Typed is Value converted per the parameter's type, as KFP receives it.
	Typed any
}

// hashLen is the number of hex digits of the request id's SHA-256 in a run name: 64 bits, so
// that two request ids of one pipeline meet by chance about once in four billion billion runs,
// and a collision is still caught (ErrNameCollision) rather than adopted.
const hashLen = 16

// RunName derives the run's name from the request id: "<pipeline>-<16 hex digits of
// sha256(request id)>", at most 63 characters, a DNS-1123 label (the pipeline part is cut and
// stripped of edge dashes to fit). The same trigger always gets the same name, so a
// redelivery finds the run the first delivery started.
func RunName(pipeline, requestID string) string {
	sum := sha256.Sum256([]byte(requestID))
	suffix := hex.EncodeToString(sum[:])[:hashLen]
	prefix := pipeline
	if room := 63 - 1 - hashLen; len(prefix) > room {
		prefix = prefix[:room]
	}
	prefix = strings.Trim(prefix, "-")
	if prefix == "" {
		prefix = "run"
	}
	return prefix + "-" + suffix
}

// requestIDLabel is the request id as a label value when it is one (ids are
// [A-Za-z0-9_-]{1,128}, labels at most 63 characters starting and ending alphanumeric), else
// the hash part of the run name. The annotation of the same key always holds the id itself.
func requestIDLabel(requestID string) string {
	if len(validation.IsValidLabelValue(requestID)) == 0 {
		return requestID
	}
	sum := sha256.Sum256([]byte(requestID))
	return "sha256-" + hex.EncodeToString(sum[:])[:hashLen]
}

// Resolve checks a trigger against the allow-list and returns the run to start. Every refusal
// matches ErrNotAllowed and failure.ErrInvalid and is permanent, and names each problem: the
// unknown pipeline, or every unknown, missing or refused parameter. The trigger itself must
// already be valid (PipelineTrigger.Validate).
func (l *AllowList) Resolve(t *jetflowv1.PipelineTrigger) (*Run, error) {
	p, ok := l.Pipeline(t.GetPipeline())
	if !ok {
		return nil, notAllowed("pipeline %q is not allowed", t.GetPipeline())
	}
	given := t.GetParameters()
	var problems []string
	for _, name := range slices.Sorted(maps.Keys(given)) {
		spec, ok := p.Parameters[name]
		if !ok {
			problems = append(problems, fmt.Sprintf("parameter %q is not allowed", name))
			continue
		}
		if err := spec.check(given[name]); err != nil {
			problems = append(problems, fmt.Sprintf("parameter %q: %v", name, err))
		}
	}
	params := make([]Param, 0, len(p.Parameters))
	for _, name := range slices.Sorted(maps.Keys(p.Parameters)) {
		spec := p.Parameters[name]
		value, ok := given[name]
		switch {
		case ok:
		case spec.Required:
			problems = append(problems, fmt.Sprintf("parameter %q is required", name))
			continue
		case spec.Default != nil:
			value = *spec.Default
		default:
			continue
		}
		typed, err := spec.typed(value)
		if err != nil {
			continue // reported above
		}
		params = append(params, Param{Name: name, Value: value, Typed: typed})
	}
	if len(problems) > 0 {
		return nil, notAllowed("pipeline %q: %s", p.Name, strings.Join(problems, "; "))
	}
	return &Run{
		RequestID:  t.GetRequestId(),
		SessionID:  t.GetSessionId(),
		UserID:     t.GetUserId(),
		Pipeline:   p,
		Name:       RunName(p.Name, t.GetRequestId()),
		Parameters: params,
	}, nil
}

func notAllowed(format string, args ...any) error {
	return failure.Permanent(fmt.Errorf("%w: %w: %s", failure.ErrInvalid, ErrNotAllowed, fmt.Sprintf(format, args...)))
}
