package cli

import (
	"errors"
	"strings"
	"testing"

	"github.com/jetflow-dev/jetflow/internal/devkit/jstest"
	"github.com/jetflow-dev/jetflow/internal/devkit/syncbuf"
	"github.com/jetflow-dev/jetflow/internal/envconfig"
	"github.com/jetflow-dev/jetflow/streams"
)

func TestStreamsApplyThenDiff(t *testing.T) {
	srv := jstest.Server(t)
	_, js := jstest.Connect(t, srv)
	ctx := jstest.Context(t)
	lookup := envconfig.Map(map[string]string{"NATS_URL": srv.ClientURL()})

	var out, errs syncbuf.Buffer
	if err := run(ctx, []string{"streams", "apply"}, &out, &errs, lookup); err != nil {
		t.Fatalf("apply: %v\n%s", err, errs.String())
	}
	if !strings.Contains(out.String(), "consumer AI_CHAT/chat-retrieve: created") {
		t.Fatalf("apply output:\n%s", out.String())
	}
	var diff syncbuf.Buffer
	if err := run(ctx, []string{"streams", "diff"}, &diff, &errs, lookup); err != nil {
		t.Fatalf("diff right after apply: %v\n%s", err, diff.String())
	}

	cons, err := js.Consumer(ctx, streams.StreamTTS, streams.ConsumerTTS)
	if err != nil {
		t.Fatal(err)
	}
	cfg := cons.CachedInfo().Config
	cfg.MaxDeliver = 9
	if _, err := js.UpdateConsumer(ctx, streams.StreamTTS, cfg); err != nil {
		t.Fatal(err)
	}
	var drift syncbuf.Buffer
	err = run(ctx, []string{"streams", "diff"}, &drift, &errs, lookup)
	if !errors.Is(err, errDrift) || !strings.Contains(drift.String(), "max_deliver") {
		t.Fatalf("diff after drift = %v:\n%s", err, drift.String())
	}
}
