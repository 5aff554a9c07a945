package streams

import (
	"errors"
	"strings"
	"testing"
	"testing/fstest"
)

// A minimal valid set that the rows below change one file at a time.
const (
	testStream   = `{"name":"S","subjects":["s.>"],"retention":"workqueue"}`
	testConsumer = `{"durable_name":"c","filter_subject":"s.a","ack_policy":"explicit"}`
	testBucket   = `{"bucket":"b","history":5}`
)

// testFS is the minimal set with files added, replaced, or removed (empty data).
func testFS(files map[string]string) fstest.MapFS {
	fsys := fstest.MapFS{
		"stream/S.json":     {Data: []byte(testStream)},
		"consumer/S/c.json": {Data: []byte(testConsumer)},
		"kv/b.json":         {Data: []byte(testBucket)},
	}
	for name, data := range files {
		if data == "" {
			delete(fsys, name)
			continue
		}
		fsys[name] = &fstest.MapFile{Data: []byte(data)}
	}
	return fsys
}

func TestLoadFSValid(t *testing.T) {
	set, err := LoadFS(testFS(map[string]string{
		"README.md":         "outside the definition directories: ignored",
		"stream/T.json":     `{"name":"T","subjects":["t.*"],"retention":"interest"}`,
		"stream/A.json":     "{\"name\":\"A\",\"subjects\":[\"a\"],\"metadata\":{\"Any\":\"case\"}}\n\n",
		"consumer/S/d.json": `{"durable_name":"d","filter_subject":"s.b.>","backoff":[],"inactive_threshold":0}`,
		"consumer/T/e.json": `{"durable_name":"e","name":"e","filter_subjects":["t.x","t.y"]}`,
		"consumer/T/f.json": `{"durable_name":"f","filter_subject":"t.x"}`,
		"consumer/A/a.json": `{"durable_name":"a","filter_subject":"a"}`,
		"kv/a.json":         `{"bucket":"a","placement":{"tags":["x"]}}`,
	}))
	if err != nil {
		t.Fatalf("LoadFS: %v", err)
	}
	var got []string
	for _, s := range set.Streams() {
		got = append(got, s.Name)
	}
	for _, c := range set.Consumers() {
		got = append(got, c.Stream+"/"+c.Config.Durable)
	}
	for _, b := range set.Buckets() {
		got = append(got, b.Bucket)
	}
	want := "A,S,T,A/a,S/c,S/d,T/e,T/f,a,b"
	if strings.Join(got, ",") != want {
		t.Errorf("order %s, want %s", strings.Join(got, ","), want)
	}
	if stream, _, ok := set.Consumer("e"); !ok || stream != "T" {
		t.Errorf("Consumer(e) = %s, %v; want T, true", stream, ok)
	}
}

func TestLoadFSInvalid(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  string // in the error text
	}{
		{"unknown stream field", map[string]string{"stream/S.json": `{"name":"S","subjects":["s.>"],"retension":"limits"}`}, `unknown field "retension"`},
		{"unknown consumer field", map[string]string{"consumer/S/c.json": `{"durable_name":"c","filter_subject":"s.a","max_deliveries":5}`}, `unknown field "max_deliveries"`},
		{"unknown bucket field", map[string]string{"kv/b.json": `{"bucket":"b","ttl_seconds":5}`}, `unknown field "ttl_seconds"`},
		{"field in another case", map[string]string{"consumer/S/c.json": `{"durable_name":"c","filter_subject":"s.a","Max_Deliver":5}`}, `"Max_Deliver": not a field`},
		{"nested field in another case", map[string]string{"stream/S.json": `{"name":"S","subjects":["s.>"],"placement":{"Tags":["x"]}}`}, `"placement.Tags"`},
		{"duration as string", map[string]string{"consumer/S/c.json": `{"durable_name":"c","filter_subject":"s.a","ack_wait":"30s"}`}, "ack_wait"},
		{"bad enum", map[string]string{"stream/S.json": `{"name":"S","subjects":["s.>"],"retention":"forever"}`}, "forever"},
		{"trailing data", map[string]string{"stream/S.json": testStream + `{}`}, "data after the definition"},
		{"not an object", map[string]string{"kv/b.json": `null`}, "not a JSON object"},
		{"array", map[string]string{"kv/b.json": `[]`}, "decoding JSON"},
		{"stream name differs from file", map[string]string{"stream/S.json": `{"name":"T","subjects":["s.>"]}`}, `name "T" differs from the file name "S"`},
		{"stream without subjects", map[string]string{"stream/S.json": `{"name":"S"}`}, "no subjects"},
		{"durable differs from file", map[string]string{"consumer/S/c.json": `{"durable_name":"d","filter_subject":"s.a"}`}, `durable_name "d" differs`},
		{"ephemeral consumer", map[string]string{"consumer/S/c.json": `{"name":"c","filter_subject":"s.a"}`}, `durable_name "" differs`},
		{"name differs from durable", map[string]string{"consumer/S/c.json": `{"name":"x","durable_name":"c","filter_subject":"s.a"}`}, `name "x" differs from durable_name`},
		{"push consumer", map[string]string{"consumer/S/c.json": `{"durable_name":"c","filter_subject":"s.a","deliver_subject":"out"}`}, "push consumer"},
		{"no filter", map[string]string{"consumer/S/c.json": `{"durable_name":"c"}`}, "no filter_subject"},
		{"bucket name differs", map[string]string{"kv/b.json": `{"bucket":"x"}`}, `bucket "x" differs`},
		{"bucket mirror", map[string]string{"kv/b.json": `{"bucket":"b","mirror":{"name":"other"}}`}, "not supported"},
		{"bucket history", map[string]string{"kv/b.json": `{"bucket":"b","history":65}`}, "history 65"},
		{"consumer of unknown stream", map[string]string{"consumer/T/d.json": `{"durable_name":"d","filter_subject":"t"}`}, "stream T has no definition"},
		{"duplicate consumer name", map[string]string{
			"stream/T.json":     `{"name":"T","subjects":["t"]}`,
			"consumer/T/c.json": `{"durable_name":"c","filter_subject":"t"}`,
		}, `consumer name "c" is also used`},
		{"filter outside stream", map[string]string{"consumer/S/c.json": `{"durable_name":"c","filter_subject":"x.a"}`}, `filter "x.a" is not within`},
		{"wildcard filter wider than stream", map[string]string{
			"stream/S.json":     `{"name":"S","subjects":["s.a","s.b"]}`,
			"consumer/S/c.json": `{"durable_name":"c","filter_subject":"s.*"}`,
		}, `filter "s.*" is not within`},
		{"overlapping stream subjects", map[string]string{"stream/T.json": `{"name":"T","subjects":["s.a.b"]}`}, `subject "s.a.b" overlaps "s.>" of stream S`},
		{"overlapping work-queue filters", map[string]string{"consumer/S/d.json": `{"durable_name":"d","filter_subject":"s.*"}`}, "must not share subjects"},
		{"stream named like a bucket's", map[string]string{"stream/KV_b.json": `{"name":"KV_b","subjects":["kv.b"]}`}, "backing stream of bucket b"},
		{"non-json file", map[string]string{"stream/S.yaml": "name: S"}, "definitions are .json files"},
		{"consumer file at the wrong depth", map[string]string{"consumer/c.json": testConsumer}, "unexpected file"},
		{"nested directory", map[string]string{"kv/more/b.json": testBucket}, "unexpected directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set, err := LoadFS(testFS(tt.files))
			if !errors.Is(err, ErrInvalidDefinition) {
				t.Fatalf("LoadFS = %v, want ErrInvalidDefinition", err)
			}
			if set != nil {
				t.Error("LoadFS returned a set with its error")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not mention %q", err, tt.want)
			}
		})
	}
}

// TestLoadFSReportsEveryProblem checks that one run names all bad files, not just the first.
func TestLoadFSReportsEveryProblem(t *testing.T) {
	_, err := LoadFS(testFS(map[string]string{
		"stream/S.json": `{"name":"S","subjects":["s.>"],"x":1}`,
		"kv/b.json":     `{"bucket":"b","y":1}`,
	}))
	for _, want := range []string{"stream/S.json", "kv/b.json"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not name %s", err, want)
		}
	}
}
