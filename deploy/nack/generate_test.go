package nack_test

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/nats-io/nats.go/jetstream"
	"sigs.k8s.io/yaml"

	"github.com/jetflow-dev/jetflow/deploy/nack"
	"github.com/jetflow-dev/jetflow/streams"
)

// committed is where `make deploy-gen` writes the resources.
var committed = filepath.Join("..", "kubernetes", "base", "nack")

func load(t *testing.T) *streams.Set {
	t.Helper()
	set, err := streams.Load()
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// TestCommittedFilesAreCurrent regenerates the resources and compares them with the committed
// files, so streams/ and the NACK resources cannot drift apart.
func TestCommittedFilesAreCurrent(t *testing.T) {
	files, err := nack.Generate(load(t), nack.Options{Replicas: nack.DefaultReplicas})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]byte{}
	for _, f := range files {
		want[f.Name] = f.Data
	}
	entries, err := os.ReadDir(committed)
	if err != nil {
		t.Fatal(err)
	}
	var have []string
	for _, e := range entries {
		have = append(have, e.Name())
		data, err := os.ReadFile(filepath.Join(committed, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		w, ok := want[e.Name()]
		switch {
		case !ok:
			t.Errorf("%s is not generated from streams/ any more: run make deploy-gen", e.Name())
		case !bytes.Equal(data, w):
			t.Errorf("%s is stale or was edited by hand: run make deploy-gen", e.Name())
		}
	}
	for name := range want {
		if !slices.Contains(have, name) {
			t.Errorf("%s is missing: run make deploy-gen", name)
		}
	}
}

// TestCommittedResourcesCarryTheDefinitions decodes each committed file strictly and maps it
// back to the server configuration NACK would ask for: it must be the definition in streams/
// (with production replicas).
func TestCommittedResourcesCarryTheDefinitions(t *testing.T) {
	set := load(t)
	seen := map[string]bool{}
	entries, err := os.ReadDir(committed)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() == nack.KustomizationFile {
			continue
		}
		data, err := os.ReadFile(filepath.Join(committed, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case strings.HasPrefix(e.Name(), "stream-"):
			var r nack.Stream
			decode(t, e.Name(), data, &r, nack.KindStream, r.Kind, r.APIVersion)
			got, err := nack.StreamConfigFrom(r.Spec)
			want, ok := set.Stream(r.Spec.Name)
			check(t, e.Name(), ok, err, normalize(want), got)
			seen["stream "+r.Spec.Name] = true
		case strings.HasPrefix(e.Name(), "consumer-"):
			var r nack.Consumer
			decode(t, e.Name(), data, &r, nack.KindConsumer, r.Kind, r.APIVersion)
			got, err := nack.ConsumerConfigFrom(r.Spec)
			stream, want, ok := set.Consumer(r.Spec.DurableName)
			ok = ok && stream == r.Spec.StreamName
			want.BackOff = nil
			check(t, e.Name(), ok, err, want, got)
			seen["consumer "+r.Spec.DurableName] = true
		case strings.HasPrefix(e.Name(), "keyvalue-"):
			var r nack.KeyValue
			decode(t, e.Name(), data, &r, nack.KindKeyValue, r.Kind, r.APIVersion)
			got, err := nack.KeyValueConfigFrom(r.Spec)
			want, ok := set.Bucket(r.Spec.Bucket)
			want.Replicas = nack.DefaultReplicas
			check(t, e.Name(), ok, err, want, got)
			seen["bucket "+r.Spec.Bucket] = true
		default:
			t.Errorf("unexpected file %s", e.Name())
		}
	}
	if n := len(set.Streams()) + len(set.Consumers()) + len(set.Buckets()); len(seen) != n {
		t.Errorf("%d resources, want one per definition (%d)", len(seen), n)
	}
}

func decode(t *testing.T, name string, data []byte, into any, kind string, gotKind, gotVersion string) {
	t.Helper()
	if !bytes.HasPrefix(data, []byte(nack.Header)) {
		t.Errorf("%s lacks the generated-file header", name)
	}
	if err := yaml.UnmarshalStrict(data, into); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	v := reflect.ValueOf(into).Elem()
	if k, a := v.FieldByName("Kind").String(), v.FieldByName("APIVersion").String(); k != kind || a != nack.APIVersion {
		t.Errorf("%s: %s %s, want %s %s", name, a, k, nack.APIVersion, kind)
	}
}

func check(t *testing.T, name string, found bool, err error, want, got any) {
	t.Helper()
	switch {
	case !found:
		t.Errorf("%s names a resource that is not in streams/", name)
	case err != nil:
		t.Errorf("%s: %v", name, err)
	case !reflect.DeepEqual(want, got):
		t.Errorf("%s carries\n%+v\nwant\n%+v", name, got, want)
	}
}

// normalize spells a stream definition as NACK carries it: production replicas, unlimited as -1.
func normalize(c jetstream.StreamConfig) jetstream.StreamConfig {
	c.Replicas = nack.DefaultReplicas
	return c
}

func TestGenerateRejectsWhatNACKCannotCarry(t *testing.T) {
	stream := `{"name":"S","subjects":["s.>"],"retention":"limits","storage":"file","num_replicas":1,` +
		`"max_consumers":-1,"max_msgs":-1,"max_bytes":-1,"max_msgs_per_subject":-1,"discard":"old",` +
		`"metadata":{"owner":"x"}}`
	set, err := streams.LoadFS(fstest.MapFS{"stream/S.json": {Data: []byte(stream)}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = nack.Generate(set, nack.Options{})
	if err == nil || !strings.Contains(err.Error(), "Metadata") {
		t.Errorf("error %v, want one naming the Metadata field", err)
	}
}

// TestGenerateOptions checks that Replicas reaches every stream and bucket resource, and that 0
// keeps each definition's own num_replicas.
func TestGenerateOptions(t *testing.T) {
	tests := []struct {
		name     string
		replicas int
		wantErr  bool
	}{
		{name: "keep the files' replicas", replicas: 0},
		{name: "production", replicas: 3},
		{name: "too many", replicas: 6, wantErr: true},
		{name: "negative", replicas: -1, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set := load(t)
			files, err := nack.Generate(set, nack.Options{Replicas: tt.replicas})
			if (err != nil) != tt.wantErr {
				t.Fatalf("error %v, want error %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if !slices.ContainsFunc(files, func(f nack.File) bool { return f.Name == nack.KustomizationFile }) {
				t.Error("no kustomization.yaml")
			}
			want := func(defined int) int {
				if tt.replicas == 0 {
					return defined
				}
				return tt.replicas
			}
			var streamsSeen, bucketsSeen int
			for _, f := range files {
				switch {
				case strings.HasPrefix(f.Name, "stream-"):
					var r nack.Stream
					decode(t, f.Name, f.Data, &r, nack.KindStream, r.Kind, r.APIVersion)
					def, ok := set.Stream(r.Spec.Name)
					if !ok {
						t.Errorf("%s names stream %s, which is not in streams/", f.Name, r.Spec.Name)
						continue
					}
					streamsSeen++
					if w := want(def.Replicas); r.Spec.Replicas != w {
						t.Errorf("%s: replicas %d, want %d", f.Name, r.Spec.Replicas, w)
					}
				case strings.HasPrefix(f.Name, "keyvalue-"):
					var r nack.KeyValue
					decode(t, f.Name, f.Data, &r, nack.KindKeyValue, r.Kind, r.APIVersion)
					def, ok := set.Bucket(r.Spec.Bucket)
					if !ok {
						t.Errorf("%s names bucket %s, which is not in streams/", f.Name, r.Spec.Bucket)
						continue
					}
					bucketsSeen++
					if w := want(def.Replicas); r.Spec.Replicas != w {
						t.Errorf("%s: replicas %d, want %d", f.Name, r.Spec.Replicas, w)
					}
				}
			}
			if streamsSeen != len(set.Streams()) || bucketsSeen != len(set.Buckets()) {
				t.Errorf("%d stream and %d bucket files, want %d and %d", streamsSeen, bucketsSeen, len(set.Streams()), len(set.Buckets()))
			}
		})
	}
}
