package streams

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
)

func jsonFields(t *testing.T, s string) fields {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader([]byte(s)))
	dec.UseNumber()
	var f fields
	if err := dec.Decode(&f); err != nil {
		t.Fatalf("decoding %s: %v", s, err)
	}
	return f
}

func TestDiffFields(t *testing.T) {
	tests := []struct {
		name       string
		want, live string
		diffs      []FieldDiff
	}{
		{"equal", `{"max_deliver":5}`, `{"max_deliver":5,"ack_wait":30}`, nil},
		{"server default not compared", `{}`, `{"max_waiting":512}`, nil},
		{"number differs", `{"max_deliver":5}`, `{"max_deliver":9}`, []FieldDiff{{"max_deliver", int64(9), int64(5)}}},
		{"number forms", `{"a":1.0}`, `{"a":1}`, nil},
		{"fraction", `{"a":1.5}`, `{"a":2}`, []FieldDiff{{"a", int64(2), 1.5}}},
		{"string differs", `{"retention":"workqueue"}`, `{"retention":"limits"}`, []FieldDiff{{"retention", "limits", "workqueue"}}},
		{"bool differs", `{"allow_direct":true}`, `{"allow_direct":false}`, []FieldDiff{{"allow_direct", false, true}}},
		{"omitted means zero", `{"backoff":[],"inactive_threshold":0,"deny_delete":false,"description":""}`, `{}`, nil},
		{"null means zero", `{"backoff":null}`, `{"backoff":[]}`, nil},
		{"set on server", `{"backoff":[]}`, `{"backoff":[1000]}`, []FieldDiff{{"backoff", []any{int64(1000)}, []any{}}}},
		{"missing on server", `{"max_age":3600}`, `{}`, []FieldDiff{{"max_age", nil, int64(3600)}}},
		{"array order", `{"subjects":["a","b"]}`, `{"subjects":["b","a"]}`, []FieldDiff{{"subjects", []any{"b", "a"}, []any{"a", "b"}}}},
		{"array length", `{"subjects":["a"]}`, `{"subjects":["a","b"]}`, []FieldDiff{{"subjects", []any{"a", "b"}, []any{"a"}}}},
		{"server metadata ignored", `{"metadata":{"owner":"x"}}`, `{"metadata":{"owner":"x","_nats.ver":"2.15.2"}}`, nil},
		{"nested differs", `{"metadata":{"owner":"x"}}`, `{"metadata":{"owner":"y"}}`, []FieldDiff{{"metadata.owner", "y", "x"}}},
		{"nested missing", `{"placement":{"tags":["a"]}}`, `{}`, []FieldDiff{{"placement.tags", nil, []any{"a"}}}},
		{"type differs", `{"a":"1"}`, `{"a":1}`, []FieldDiff{{"a", int64(1), "1"}}},
		{"object against scalar", `{"a":{"b":1}}`, `{"a":1}`, []FieldDiff{{"a", int64(1), map[string]any{"b": int64(1)}}}},
		{"sorted paths", `{"b":1,"a":1}`, `{"b":2,"a":2}`, []FieldDiff{{"a", int64(2), int64(1)}, {"b", int64(2), int64(1)}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := diffFields(jsonFields(t, tt.want), jsonFields(t, tt.live))
			if !reflect.DeepEqual(got, tt.diffs) {
				t.Errorf("diffFields = %#v, want %#v", got, tt.diffs)
			}
		})
	}
}

func TestChangeString(t *testing.T) {
	tests := []struct {
		name string
		c    Change
		want string
	}{
		{"stream", Change{Kind: KindStream, Name: "AI_CHAT", Action: ActionCreated}, "stream AI_CHAT: created"},
		{"consumer", Change{Kind: KindConsumer, Name: "c", Stream: "S", Action: ActionDiffers, Fields: []FieldDiff{
			{"max_deliver", int64(9), int64(5)}, {"description", nil, "x"},
		}}, `consumer S/c: differs (max_deliver: live 9, want 5; description: live unset, want "x")`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.c.String(); got != tt.want {
				t.Errorf("String() = %s, want %s", got, tt.want)
			}
		})
	}
}
