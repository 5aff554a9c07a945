package streams

import (
	"path"
	"strings"
	"testing"

	"github.com/jetflow-dev/jetflow/internal/devkit/jstest"
	"github.com/jetflow-dev/jetflow/internal/devkit/natscli"
)

// TestNatsCLIAcceptsDefinitions proves that the operator recipes
// `nats stream add --config streams/stream/<NAME>.json` and
// `nats consumer add <STREAM> --config streams/consumer/<STREAM>/<name>.json` accept every file
// unchanged, and that Apply then finds those CLI-made resources unchanged: the CLI and this
// package read the files the same way.
func TestNatsCLIAcceptsDefinitions(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the nats CLI")
	}
	srv := jstest.Server(t)
	_, js := jstest.Connect(t, srv)
	ctx := jstest.Context(t)
	set := mustLoad(t)
	nats := natscli.New(t, srv.ClientURL())

	for _, s := range set.streams {
		file := path.Join("streams", s.file)
		t.Run("stream add "+s.cfg.Name, func(t *testing.T) {
			if out := nats.Run(ctx, t, "stream", "add", "--config", file, "--validate"); !strings.Contains(out, "Configuration is a valid Stream") {
				t.Errorf("schema validation:\n%s", out)
			}
			out := nats.Run(ctx, t, "stream", "add", "--config", file)
			if !strings.Contains(out, "Stream "+s.cfg.Name+" was created") {
				t.Errorf("unexpected output:\n%s", out)
			}
		})
	}
	for _, c := range set.consumers {
		file := path.Join("streams", c.file)
		t.Run("consumer add "+c.cfg.Durable, func(t *testing.T) {
			if out := nats.Run(ctx, t, "consumer", "add", c.stream, "--config", file, "--validate"); !strings.Contains(out, "Configuration is a valid Consumer") {
				t.Errorf("schema validation:\n%s", out)
			}
			out := nats.Run(ctx, t, "consumer", "add", c.stream, "--config", file)
			if !strings.Contains(out, "Information for Consumer "+c.stream+" > "+c.cfg.Durable) {
				t.Errorf("unexpected output:\n%s", out)
			}
		})
	}
	if t.Failed() {
		return
	}

	changes, err := Apply(ctx, js, set)
	if err != nil {
		t.Fatalf("Apply after the CLI: %v", err)
	}
	for _, c := range changes {
		want := ActionUnchanged
		if c.Kind == KindBucket { // `nats kv add` has no --config: buckets are Go's alone
			want = ActionCreated
		}
		if c.Action != want {
			t.Errorf("%s, want %s", c, want)
		}
	}
}

// The README's apply-by-hand recipe, exactly as printed, creates the TTS stream and its stage's
// consumer on an empty server.
func TestReadmeApplyByHandRecipe(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the nats CLI")
	}
	srv := jstest.Server(t)
	_, js := jstest.Connect(t, srv)
	ctx := jstest.Context(t)
	rec, ok := natscli.ReadmeRecipes(t)["apply-by-hand"]
	if !ok {
		t.Fatal("the README has no recipe apply-by-hand")
	}
	natscli.New(t, srv.ClientURL()).RunRecipe(ctx, t, rec, nil)
	if _, err := js.Consumer(ctx, StreamTTS, ConsumerTTS); err != nil {
		t.Errorf("after the recipe, consumer %s > %s: %v", StreamTTS, ConsumerTTS, err)
	}
}
