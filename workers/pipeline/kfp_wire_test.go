package pipeline

import (
	"strings"
	"testing"
	"unicode/utf8"

	jetflowv1 "github.com/jetflow-dev/jetflow/proto/jetflow/v1"
)

func TestDecodeKFPRun(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		want    kfpRun
		wantErr string
	}{
		{
			name: "snake_case as the API server sends it",
			body: `{"run_id":"9f1c","display_name":"n","description":"d","state":"RUNNING","created_at":"2026-11-28T10:00:00Z","run_details":{"task_details":[]}}`,
			want: kfpRun{RunID: "9f1c", DisplayName: "n", Description: "d", State: "RUNNING"},
		},
		{
			name: "lowerCamel",
			body: `{"runId":"9f1c","displayName":"n","state":"SUCCEEDED"}`,
			want: kfpRun{RunID: "9f1c", DisplayName: "n", State: "SUCCEEDED"},
		},
		{
			name: "error status",
			body: `{"run_id":"r","state":"FAILED","error":{"code":2,"message":"step train failed"}}`,
			want: kfpRun{RunID: "r", State: "FAILED", Error: "step train failed"},
		},
		{name: "enum as number", body: `{"run_id":"r","state":3}`, want: kfpRun{RunID: "r", State: "SUCCEEDED"}},
		{name: "unknown enum number", body: `{"run_id":"r","state":42}`, want: kfpRun{RunID: "r", State: "STATE_42"}},
		{name: "no state yet", body: `{"run_id":"r"}`, want: kfpRun{RunID: "r"}},
		{name: "missing run id", body: `{"state":"RUNNING"}`, wantErr: "run_id"},
		{name: "run id that would escape the path", body: `{"run_id":"../../pipelines"}`, wantErr: "run_id"},
		{name: "not json", body: `<html>`, wantErr: "decoding KFP run"},
		{name: "state of the wrong type", body: `{"run_id":"r","state":{}}`, wantErr: "decoding KFP run"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeKFPRun([]byte(tt.body))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("decodeKFPRun = %+v, %v; want an error containing %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("decodeKFPRun = %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

func TestDecodeKFPRunList(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		want    int
		wantErr bool
	}{
		{name: "empty list omitted", body: `{"total_size":0}`, want: 0},
		{name: "empty object", body: `{}`, want: 0},
		{name: "two runs", body: `{"runs":[{"run_id":"a","display_name":"x"},{"runId":"b","displayName":"x"}],"total_size":2}`, want: 2},
		{name: "run without id", body: `{"runs":[{"display_name":"x"}]}`, wantErr: true},
		{name: "runs not a list", body: `{"runs":{}}`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeKFPRunList([]byte(tt.body))
			if (err != nil) != tt.wantErr || (err == nil && len(got) != tt.want) {
				t.Fatalf("decodeKFPRunList = %+v, %v; want %d runs, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestKFPObservation(t *testing.T) {
	tests := []struct {
		state, errMsg string
		want          jetflowv1.PipelineStatus_Phase
		wantMsg       string
	}{
		{"", "", jetflowv1.PipelineStatus_PHASE_PENDING, ""},
		{"RUNTIME_STATE_UNSPECIFIED", "", jetflowv1.PipelineStatus_PHASE_PENDING, ""},
		{"PENDING", "", jetflowv1.PipelineStatus_PHASE_PENDING, ""},
		{"RUNNING", "", jetflowv1.PipelineStatus_PHASE_RUNNING, ""},
		{"CANCELING", "", jetflowv1.PipelineStatus_PHASE_RUNNING, "canceling"},
		{"PAUSED", "", jetflowv1.PipelineStatus_PHASE_RUNNING, "paused"},
		{"SUCCEEDED", "", jetflowv1.PipelineStatus_PHASE_SUCCEEDED, ""},
		{"SKIPPED", "", jetflowv1.PipelineStatus_PHASE_SUCCEEDED, "skipped"},
		{"FAILED", "step 3 failed", jetflowv1.PipelineStatus_PHASE_FAILED, "step 3 failed"},
		{"CANCELED", "by ana", jetflowv1.PipelineStatus_PHASE_FAILED, "canceled: by ana"},
		{"STATE_42", "", jetflowv1.PipelineStatus_PHASE_RUNNING, `KFP state "STATE_42"`},
	}
	for _, tt := range tests {
		t.Run(tt.state, func(t *testing.T) {
			o := kfpObservation(kfpRun{RunID: "r", State: tt.state, Error: tt.errMsg})
			if o.phase != tt.want || o.message != tt.wantMsg || o.ref != "r" {
				t.Errorf("kfpObservation(%q) = %v %q, want %v %q", tt.state, o.phase, o.message, tt.want, tt.wantMsg)
			}
		})
	}
}

// FuzzDecodeKFPRun: no answer from a KFP server makes the decoders panic, and an accepted run
// id is always safe to put in a URL path.
func FuzzDecodeKFPRun(f *testing.F) {
	f.Add([]byte(`{"run_id":"9f1c","display_name":"n","state":"RUNNING"}`))
	f.Add([]byte(`{"runId":"9f1c","state":3,"error":{"code":2,"message":"x"}}`))
	f.Add([]byte(`{"runs":[{"run_id":"a","display_name":"x","state":"SUCCEEDED"}],"total_size":1}`))
	f.Add([]byte(`{"total_size":76}`))
	f.Add([]byte(`{"run_id":"a/b"}`))
	f.Add([]byte(`{"state":null,"run_id":"r"}`))
	f.Add([]byte(`{"run_id":"r","state":"x` + strings.Repeat("é", 40) + `"}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(``))
	f.Fuzz(func(t *testing.T, body []byte) {
		check := func(r kfpRun) {
			if !validKFPID(r.RunID) {
				t.Fatalf("accepted run id %q", r.RunID)
			}
			o := kfpObservation(r)
			if o.phase == jetflowv1.PipelineStatus_PHASE_UNSPECIFIED {
				t.Fatalf("state %q mapped to no phase", r.State)
			}
			if !utf8.ValidString(o.message) {
				t.Errorf("observation message %q is not valid UTF-8", o.message)
			}
		}
		if r, err := decodeKFPRun(body); err == nil {
			check(r)
		}
		if runs, err := decodeKFPRunList(body); err == nil {
			for _, r := range runs {
				check(r)
			}
		}
	})
}
