package streams

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetflow-dev/jetflow/internal/devkit/jstest"
)

func actions(changes []Change) map[string]Action {
	out := make(map[string]Action, len(changes))
	for _, c := range changes {
		out[ref(c)] = c.Action
	}
	return out
}

func wantAll(t *testing.T, changes []Change, set *Set, want Action) {
	t.Helper()
	if n := len(set.streams) + len(set.consumers) + len(set.buckets); len(changes) != n {
		t.Errorf("%d changes, want one per resource (%d)", len(changes), n)
	}
	for _, c := range changes {
		if c.Action != want {
			t.Errorf("%s, want %s", c, want)
		}
	}
}

// liveConfigs snapshots every stream's and consumer's config on the server, as JSON.
func liveConfigs(t *testing.T, js jetstream.JetStream) map[string]string {
	t.Helper()
	ctx := jstest.Context(t)
	out := map[string]string{}
	names := js.StreamNames(ctx)
	for name := range names.Name() {
		s, err := js.Stream(ctx, name)
		if err != nil {
			t.Fatalf("reading stream %s: %v", name, err)
		}
		j, _ := json.Marshal(s.CachedInfo().Config)
		out["stream "+name] = string(j)
		cs := s.ListConsumers(ctx)
		for ci := range cs.Info() {
			j, _ := json.Marshal(ci.Config)
			out["consumer "+name+"/"+ci.Name] = string(j)
		}
		if err := cs.Err(); err != nil {
			t.Fatalf("listing consumers of %s: %v", name, err)
		}
	}
	if err := names.Err(); err != nil {
		t.Fatalf("listing streams: %v", err)
	}
	return out
}

func TestApplyCreatesThenReportsUnchanged(t *testing.T) {
	set := mustLoad(t)
	_, js := jstest.Connect(t, jstest.Server(t))
	ctx := jstest.Context(t)

	before, err := Diff(ctx, js, set)
	if err != nil {
		t.Fatalf("Diff on an empty server: %v", err)
	}
	wantAll(t, before, set, ActionMissing)

	first, err := Apply(ctx, js, set)
	if err != nil {
		t.Fatalf("first Apply: %v", err)
	}
	wantAll(t, first, set, ActionCreated)
	created := liveConfigs(t, js)
	if want := len(set.streams) + len(set.buckets) + len(set.consumers); len(created) != want {
		t.Errorf("server has %d streams and consumers, want %d", len(created), want)
	}

	second, err := Apply(ctx, js, set)
	if err != nil {
		t.Fatalf("second Apply: %v", err)
	}
	wantAll(t, second, set, ActionUnchanged)
	if after := liveConfigs(t, js); !reflect.DeepEqual(created, after) {
		t.Errorf("second Apply changed server configs:\nbefore %v\nafter  %v", created, after)
	}

	diff, err := Diff(ctx, js, set)
	if err != nil {
		t.Fatalf("Diff: %v", err)
	}
	wantAll(t, diff, set, ActionUnchanged)

	kv, err := js.KeyValue(ctx, BucketVoiceSessions)
	if err != nil {
		t.Fatalf("opening bucket: %v", err)
	}
	st, err := kv.Status(ctx)
	if err != nil {
		t.Fatalf("bucket status: %v", err)
	}
	if st.TTL() != 24*time.Hour || st.History() != 5 {
		t.Errorf("bucket ttl %v history %d, want 24h 5", st.TTL(), st.History())
	}
}

func TestDiffReportsChangedConsumerField(t *testing.T) {
	set := mustLoad(t)
	_, js := jstest.Connect(t, jstest.Server(t))
	ctx := jstest.Context(t)
	if _, err := Apply(ctx, js, set); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	_, cfg, _ := set.Consumer(ConsumerChatGenerate)
	cfg.MaxDeliver = 9
	if _, err := js.UpdateConsumer(ctx, StreamChat, cfg); err != nil {
		t.Fatalf("changing max_deliver on the server: %v", err)
	}

	diff, err := Diff(ctx, js, set)
	if err != nil {
		t.Fatalf("Diff: %v", err)
	}
	key := ref(Change{Kind: KindConsumer, Stream: StreamChat, Name: ConsumerChatGenerate})
	for _, c := range diff {
		if ref(c) != key {
			if c.Action != ActionUnchanged {
				t.Errorf("%s, want unchanged", c)
			}
			continue
		}
		want := []FieldDiff{{Path: "max_deliver", Live: int64(9), Want: int64(5)}}
		if c.Action != ActionDiffers || !reflect.DeepEqual(c.Fields, want) {
			t.Errorf("%s, want differs with %v", c, want)
		}
	}

	applied, err := Apply(ctx, js, set)
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if a := actions(applied)[key]; a != ActionUpdated {
		t.Errorf("Apply action for %s = %s, want updated", key, a)
	}
	c, err := js.Consumer(ctx, StreamChat, ConsumerChatGenerate)
	if err != nil {
		t.Fatalf("reading consumer: %v", err)
	}
	if got := c.CachedInfo().Config.MaxDeliver; got != 5 {
		t.Errorf("max_deliver after Apply = %d, want 5", got)
	}
}

func TestApplyUpdatesDriftedStreamAndBucket(t *testing.T) {
	set := mustLoad(t)
	_, js := jstest.Connect(t, jstest.Server(t))
	ctx := jstest.Context(t)
	if _, err := Apply(ctx, js, set); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	s, _ := set.Stream(StreamResults)
	s.MaxAge = 2 * time.Hour
	if _, err := js.UpdateStream(ctx, s); err != nil {
		t.Fatalf("changing max_age: %v", err)
	}
	b, _ := set.Bucket(BucketSTTSessions)
	b.History = 2
	if _, err := js.UpdateKeyValue(ctx, b); err != nil {
		t.Fatalf("changing history: %v", err)
	}

	changes, err := Apply(ctx, js, set)
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	got := map[string][]FieldDiff{}
	for _, c := range changes {
		if c.Action == ActionUpdated {
			got[ref(c)] = c.Fields
		} else if c.Action != ActionUnchanged {
			t.Errorf("%s, want updated or unchanged", c)
		}
	}
	want := map[string][]FieldDiff{
		"stream AI_RESULTS": {{Path: "max_age", Live: int64(2 * time.Hour), Want: int64(time.Hour)}},
		"kv stt-sessions":   {{Path: "history", Live: int64(2), Want: int64(5)}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("updated %v, want %v", got, want)
	}
	again, err := Apply(ctx, js, set)
	if err != nil {
		t.Fatalf("third Apply: %v", err)
	}
	wantAll(t, again, set, ActionUnchanged)
}

func TestApplyWithReplicas(t *testing.T) {
	set := mustLoad(t)
	_, js := jstest.Connect(t, jstest.Server(t))
	ctx := jstest.Context(t)
	if _, err := Apply(ctx, js, set, WithReplicas(0)); !errors.Is(err, ErrInvalidOption) {
		t.Errorf("Apply(WithReplicas(0)) = %v, want ErrInvalidOption", err)
	}
	if _, err := Diff(ctx, js, set, WithReplicas(6)); !errors.Is(err, ErrInvalidOption) {
		t.Errorf("Diff(WithReplicas(6)) = %v, want ErrInvalidOption", err)
	}
	if _, err := Apply(ctx, js, set); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	// A single server cannot hold three replicas, so only Diff is checked: it compares against
	// the override instead of the files' 1.
	diff, err := Diff(ctx, js, set, WithReplicas(3))
	if err != nil {
		t.Fatalf("Diff: %v", err)
	}
	for _, c := range diff {
		want := ActionDiffers
		if c.Kind == KindConsumer {
			want = ActionUnchanged
		}
		if c.Action != want {
			t.Errorf("%s, want %s", c, want)
			continue
		}
		if want == ActionDiffers && (len(c.Fields) != 1 || c.Fields[0].Path != "num_replicas" || c.Fields[0].Want != int64(3)) {
			t.Errorf("%s, want num_replicas live 1 want 3", c)
		}
	}
}

// TestApplyRejectsValueTheServerNormalises shows that a file value the server stores
// differently fails loudly instead of being "updated" on every Apply.
func TestApplyRejectsValueTheServerNormalises(t *testing.T) {
	set, err := LoadFS(testFS(map[string]string{
		"stream/S.json": `{"name":"S","subjects":["s.>"],"retention":"workqueue","max_msgs":0}`,
	}))
	if err != nil {
		t.Fatalf("LoadFS: %v", err)
	}
	_, js := jstest.Connect(t, jstest.Server(t))
	changes, err := Apply(jstest.Context(t), js, set)
	if !errors.Is(err, ErrNotConverged) {
		t.Fatalf("Apply = %v, want ErrNotConverged", err)
	}
	t.Log(err)
	if len(changes) != 1 || changes[0].Action != ActionCreated {
		t.Errorf("changes = %v, want the stream created (the write happened)", changes)
	}
}

func TestApplyReportsServerErrors(t *testing.T) {
	set, err := LoadFS(testFS(map[string]string{
		// Valid JSON the server refuses: a duplicate window longer than max_age.
		"stream/S.json": `{"name":"S","subjects":["s.>"],"max_age":1000000000,"duplicate_window":120000000000}`,
	}))
	if err != nil {
		t.Fatalf("LoadFS: %v", err)
	}
	_, js := jstest.Connect(t, jstest.Server(t))
	_, err = Apply(jstest.Context(t), js, set)
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) {
		t.Fatalf("Apply = %v, want the server's APIError", err)
	}
	t.Log(err)
}
