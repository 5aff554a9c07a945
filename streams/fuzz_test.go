package streams

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"testing"
	"testing/fstest"

	"github.com/nats-io/nats.go/jetstream"
)

// Where a fuzzed definition goes: the rest of the set is testFS's minimal valid one.
var fuzzFiles = []string{"stream/S.json", "consumer/S/c.json", "kv/b.json"}

// FuzzLoad feeds arbitrary bytes to the definition decoder as a stream, consumer or bucket
// file. Loading must never panic; a definition it accepts must marshal back to JSON that
// decodes into the same config, and the set must find the resource by name.
func FuzzLoad(f *testing.F) {
	err := fs.WalkDir(definitions, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(definitions, p)
		if err != nil {
			return err
		}
		for kind := range fuzzFiles {
			f.Add(uint8(kind), data)
		}
		return nil
	})
	if err != nil {
		f.Fatalf("reading seeds: %v", err)
	}
	for _, seed := range []string{"", testStream, testConsumer, testBucket, `{}`, `null`, `[]`, `{"name":"S"} x`,
		`{"name":"S","subjects":["s.>"],"Retention":"limits"}`, `{"durable_name":"c","filter_subject":"s.*","ack_wait":1e9}`,
		`{"bucket":"b","history":300}`, `{"name":"S","subjects":["s.>"],"placement":{"tags":[{"x":1}]}}`} {
		for kind := range fuzzFiles {
			f.Add(uint8(kind), []byte(seed))
		}
	}

	f.Fuzz(func(t *testing.T, kind uint8, data []byte) {
		file := fuzzFiles[int(kind)%len(fuzzFiles)]
		fsys := testFS(nil)
		fsys[file] = &fstest.MapFile{Data: data}
		set, err := LoadFS(fsys)
		if err != nil {
			if set != nil {
				t.Fatal("LoadFS returned a set with its error")
			}
			return
		}
		switch file {
		case "stream/S.json":
			cfg, ok := set.Stream("S")
			if !ok {
				t.Fatal("loaded stream S not found")
			}
			roundTrip(t, cfg, &jetstream.StreamConfig{})
		case "consumer/S/c.json":
			stream, cfg, ok := set.Consumer("c")
			if !ok || stream != "S" {
				t.Fatalf("Consumer(c) = %q, %v", stream, ok)
			}
			roundTrip(t, cfg, &jetstream.ConsumerConfig{})
		default:
			cfg, ok := set.Bucket("b")
			if !ok {
				t.Fatal("loaded bucket b not found")
			}
			roundTrip(t, cfg, &jetstream.KeyValueConfig{})
		}
	})
}

// roundTrip checks that cfg marshals to JSON that decodes into fresh and marshals the same.
func roundTrip[T any](t *testing.T, cfg T, fresh *T) {
	t.Helper()
	first, err := json.Marshal(cfg)
	if err != nil {
		t.Fatalf("marshalling loaded config: %v", err)
	}
	if err := json.Unmarshal(first, fresh); err != nil {
		t.Fatalf("decoding marshalled config %s: %v", first, err)
	}
	second, err := json.Marshal(*fresh)
	if err != nil {
		t.Fatalf("marshalling again: %v", err)
	}
	if !bytes.Equal(first, second) {
		t.Fatalf("config does not survive a round trip:\n%s\n%s", first, second)
	}
}
