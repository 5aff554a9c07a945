package fault

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"testing"
	"testing/fstest"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetflow-dev/jetflow/streams"
)

// AnchorStream is a stream ApplyStreams creates and nothing deletes: nats-server removes an
// account's directory in a goroutine once its last stream is gone, which races with a stream
// created right after, so a test that deletes and recreates streams keeps this one.
const AnchorStream = "FAULT_ANCHOR"

// Connect opens a connection that reconnects forever (the server comes back), closed at the end
// of the test. url may list several servers, comma-separated.
func Connect(t *testing.T, url string) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond),
		nats.RetryOnFailedConnect(true), nats.Name("fault-test"))
	if err != nil {
		t.Fatalf("connecting to %s: %v", url, err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("creating JetStream context: %v", err)
	}
	return nc, js
}

// ApplyStreams applies set (nil means streams/ as committed) and the anchor stream. opts are
// streams.Apply's (streams.WithReplicas(3) on a cluster).
func ApplyStreams(t *testing.T, ctx context.Context, js jetstream.JetStream, set *streams.Set, opts ...streams.Option) {
	t.Helper()
	if set == nil {
		var err error
		if set, err = streams.Load(); err != nil {
			t.Fatalf("loading streams/: %v", err)
		}
	}
	if _, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name: AnchorStream, Subjects: []string{"fault.anchor"}, Storage: jetstream.FileStorage,
	}); err != nil {
		t.Fatalf("creating the anchor stream: %v", err)
	}
	// A cluster may still be electing leaders just after it started: retry for a while.
	deadline := time.Now().Add(60 * time.Second)
	for {
		_, err := streams.Apply(ctx, js, set, opts...)
		if err == nil {
			return
		}
		if time.Now().After(deadline) || errors.Is(err, streams.ErrInvalidOption) {
			t.Fatalf("applying streams/: %v", err)
		}
		time.Sleep(500 * time.Millisecond) // waiting for leaders; Apply is idempotent
	}
}

// Definitions returns streams/ with edits applied to its JSON files before they are loaded: the
// key is the file's path in streams.Files() (such as "consumer/AI_CHAT/chat-generate.json"),
// the function changes its decoded object. A scenario uses it to shorten an ack wait.
func Definitions(t *testing.T, edits map[string]func(def map[string]any)) *streams.Set {
	t.Helper()
	src := streams.Files()
	fsys := fstest.MapFS{}
	err := fs.WalkDir(src, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(src, path)
		if err != nil {
			return err
		}
		if edit, ok := edits[path]; ok {
			var def map[string]any
			if err := json.Unmarshal(data, &def); err != nil {
				return fmt.Errorf("decoding %s: %w", path, err)
			}
			edit(def)
			if data, err = json.Marshal(def); err != nil {
				return fmt.Errorf("encoding %s: %w", path, err)
			}
			delete(edits, path)
		}
		fsys[path] = &fstest.MapFile{Data: data}
		return nil
	})
	if err != nil {
		t.Fatalf("copying streams/: %v", err)
	}
	for path := range edits {
		t.Fatalf("no definition file %s to edit", path)
	}
	set, err := streams.LoadFS(fsys)
	if err != nil {
		t.Fatalf("loading the edited definitions: %v", err)
	}
	return set
}

// ChatAckWait is the Definitions edit that sets both chat consumers' ack_wait to d: a request
// whose worker died waits one ack wait before it is delivered again, so the short form shortens
// it rather than wait the committed minute. The runtime's InProgress keeps longer calls alive.
func ChatAckWait(d time.Duration) map[string]func(map[string]any) {
	set := func(def map[string]any) { def["ack_wait"] = int64(d) }
	return map[string]func(map[string]any){
		"consumer/AI_CHAT/chat-retrieve.json": set,
		"consumer/AI_CHAT/chat-generate.json": set,
	}
}
