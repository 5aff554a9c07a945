package pipeline

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
)

// The KFP v2beta1 REST shapes the bridge sends and reads (kubeflow/pipelines
// backend/api/v2beta1/run.proto and filter.proto). The API server answers in protojson with
// proto field names (snake_case) and omits empty fields; older or differently configured
// servers answer lowerCamelCase, so the decoders accept both.

// kfpRunRequest is the body of POST /apis/v2beta1/runs: the Run object itself.
type kfpRunRequest struct {
	DisplayName              string           `json:"display_name"`
	Description              string           `json:"description,omitempty"`
	ExperimentID             string           `json:"experiment_id,omitempty"`
	PipelineVersionReference kfpVersionRef    `json:"pipeline_version_reference"`
	RuntimeConfig            kfpRuntimeConfig `json:"runtime_config"`
	ServiceAccount           string           `json:"service_account,omitempty"`
}

type kfpVersionRef struct {
	PipelineID        string `json:"pipeline_id"`
	PipelineVersionID string `json:"pipeline_version_id"`
}

type kfpRuntimeConfig struct {
	// Parameters are google.protobuf.Value in the proto: JSON strings, numbers and booleans.
	Parameters map[string]any `json:"parameters"`
}

// kfpFilter is the Filter message, sent JSON-encoded in the "filter" query parameter of
// ListRuns. "display_name" is one of the run fields the server can filter on
// (runAPIToModelFieldMap in backend/src/apiserver/model/run.go); EQUALS is an exact SQL match.
type kfpFilter struct {
	Predicates []kfpPredicate `json:"predicates"`
}

type kfpPredicate struct {
	Operation   string `json:"operation"`
	Key         string `json:"key"`
	StringValue string `json:"string_value"`
}

// kfpRun is the part of a Run the bridge reads.
type kfpRun struct {
	RunID       string
	DisplayName string
	Description string
	State       string
	Error       string
}

// kfpRunJSON accepts both field spellings.
type kfpRunJSON struct {
	RunID            string     `json:"run_id"`
	RunIDCamel       string     `json:"runId"`
	DisplayName      string     `json:"display_name"`
	DisplayNameCamel string     `json:"displayName"`
	Description      string     `json:"description"`
	State            kfpState   `json:"state"`
	Error            *kfpStatus `json:"error"`
}

// kfpStatus is the part of a google.rpc.Status the bridge reads.
type kfpStatus struct {
	Message string `json:"message"`
}

// kfpRunListJSON is the part of a ListRunsResponse the bridge reads. The next page token is
// not among it: find sorts by creation time, so the oldest run of a name is on the first page.
type kfpRunListJSON struct {
	Runs []kfpRunJSON `json:"runs"`
}

// kfpState is a RuntimeState: its name, or (from a server set to emit enum numbers) its number.
type kfpState string

var kfpStateNames = []string{"RUNTIME_STATE_UNSPECIFIED", "PENDING", "RUNNING", "SUCCEEDED", "SKIPPED", "FAILED", "CANCELING", "CANCELED", "PAUSED"}

func (s *kfpState) UnmarshalJSON(b []byte) error {
	if bytes.Equal(b, []byte("null")) {
		*s = ""
		return nil
	}
	var name string
	if err := json.Unmarshal(b, &name); err == nil {
		*s = kfpState(name)
		return nil
	}
	n, err := strconv.Atoi(string(b))
	if err != nil {
		return fmt.Errorf("run state %s is neither a name nor a number", truncate(string(b), 32))
	}
	if n >= 0 && n < len(kfpStateNames) {
		*s = kfpState(kfpStateNames[n])
	} else {
		*s = kfpState("STATE_" + strconv.Itoa(n))
	}
	return nil
}

func (j kfpRunJSON) run() kfpRun {
	r := kfpRun{RunID: j.RunID, DisplayName: j.DisplayName, Description: j.Description, State: string(j.State)}
	if r.RunID == "" {
		r.RunID = j.RunIDCamel
	}
	if r.DisplayName == "" {
		r.DisplayName = j.DisplayNameCamel
	}
	if j.Error != nil {
		r.Error = j.Error.Message
	}
	return r
}

// decodeKFPRun decodes a Run (the answer to create and get). It must carry a run id the bridge
// can put in a URL path.
func decodeKFPRun(body []byte) (kfpRun, error) {
	var j kfpRunJSON
	if err := json.Unmarshal(body, &j); err != nil {
		return kfpRun{}, fmt.Errorf("decoding KFP run: %w", err)
	}
	r := j.run()
	if !validKFPID(r.RunID) {
		return kfpRun{}, fmt.Errorf("decoding KFP run: run_id %q is missing or not 1..128 characters of [A-Za-z0-9._-]", truncate(r.RunID, 64))
	}
	return r, nil
}

// decodeKFPRunList decodes a ListRunsResponse. A missing "runs" means none (the server omits
// empty lists).
func decodeKFPRunList(body []byte) ([]kfpRun, error) {
	var j kfpRunListJSON
	if err := json.Unmarshal(body, &j); err != nil {
		return nil, fmt.Errorf("decoding KFP run list: %w", err)
	}
	runs := make([]kfpRun, 0, len(j.Runs))
	for _, rj := range j.Runs {
		r := rj.run()
		if !validKFPID(r.RunID) {
			return nil, fmt.Errorf("decoding KFP run list: run_id %q is missing or not 1..128 characters of [A-Za-z0-9._-]", truncate(r.RunID, 64))
		}
		runs = append(runs, r)
	}
	return runs, nil
}
