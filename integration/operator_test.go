package integration

import (
	"context"
	"errors"
	"log/slog"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetflow-dev/jetflow/internal/devkit/jstest"
	"github.com/jetflow-dev/jetflow/internal/devkit/natscli"
	"github.com/jetflow-dev/jetflow/internal/devkit/standin"
	"github.com/jetflow-dev/jetflow/internal/devkit/testplatform"
	"github.com/jetflow-dev/jetflow/internal/envconfig"
	"github.com/jetflow-dev/jetflow/internal/stage"
	"github.com/jetflow-dev/jetflow/internal/worker"
	"github.com/jetflow-dev/jetflow/platform"
	"github.com/jetflow-dev/jetflow/streams"
)

// The README's recipe to look at dead letters, `nats stream view AI_DLQ`, shows the original
// payload and every Jetflow-* header. The dead letter is the README's own: a ChatRequest without
// a request id, refused by the real chat-handler (as `make run` runs it, on stand-in models).
func TestDeadLetterShownByNatsStreamView(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the nats CLI")
	}
	p := testplatform.New(t)
	ctx := p.Ctx
	models, err := standin.New(standin.Config{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	modelSrv := httptest.NewServer(models)
	t.Cleanup(modelSrv.Close)
	chat, ok := platform.ByName("chat-handler")
	if !ok {
		t.Fatal("platform.All has no chat-handler")
	}
	env := map[string]string{}
	for _, kv := range workerEnv(p.URL(), modelSrv.URL) {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	jstest.Run(t, ctx, func(ctx context.Context) error {
		return worker.Run(ctx, chat.Name, envconfig.Map(env), slog.New(slog.DiscardHandler), chat.Build)
	})

	cli := natscli.New(t, p.URL())
	recipes := natscli.ReadmeRecipes(t)
	sample, ok := recipes["dead-letter-sample"]
	if !ok {
		t.Fatal("the README has no recipe dead-letter-sample")
	}
	// The recipe publishes the README's request, then views AI_DLQ: the view waits until the
	// dead letter is in.
	cmds, err := sample.Commands(nil)
	if err != nil || len(cmds) != 2 {
		t.Fatalf("recipe dead-letter-sample: %q, %v; want a publish and a view", cmds, err)
	}
	cli.RunInTerminal(ctx, t, cmds[0]...)
	dlqSubject := streams.DeadLetterSubject(streams.ConsumerChatRetrieve)
	var dead []*jetstream.RawStreamMsg
	jstest.Eventually(t, 20*time.Second, 50*time.Millisecond, func() error {
		if dead = jstest.Stored(t, ctx, p.JS, streams.StreamDeadLetter, dlqSubject); len(dead) == 0 {
			return errors.New("no dead letter yet")
		}
		return nil
	})
	out := cli.RunInTerminal(ctx, t, cmds[1]...)
	wants := []string{
		`{"query":"How does KEDA scale the workers?"}`,
		"Content-Type: application/json",
		stage.HeaderError + ": validating jetflow.v1.ChatRequest: invalid message: request_id: must be 1..128 characters",
		stage.HeaderErrorKind + ": " + stage.KindPermanent,
		stage.HeaderStage + ": " + streams.ConsumerChatRetrieve,
		stage.HeaderOriginalSubject + ": " + streams.SubjectChatRequest,
		stage.HeaderOriginalStream + ": " + streams.StreamChat,
		stage.HeaderStreamSeq, stage.HeaderDeliveries + ": 1", stage.HeaderFailedAt,
		"Subject: " + streams.DeadLetterSubject(streams.ConsumerChatRetrieve),
	}
	t.Logf("nats stream view:\n%s", out)
	for _, w := range wants {
		if !strings.Contains(out, w) && !strings.Contains(out, strings.ReplaceAll(w, `\"`, `"`)) {
			t.Errorf("nats stream view output lacks %q:\n%s", w, out)
		}
	}

	// The filtered view and the single dead letter by its sequence show the same dead letter.
	dl, ok := recipes["dead-letters"]
	if !ok {
		t.Fatal("the README has no recipe dead-letters")
	}
	for i, out := range cli.RunRecipe(ctx, t, dl, map[string]string{"SEQ": strconv.FormatUint(dead[0].Sequence, 10)}) {
		for _, w := range []string{stage.HeaderStage + ": " + streams.ConsumerChatRetrieve, `{"query":"How does KEDA scale the workers?"}`} {
			if !strings.Contains(out, w) {
				t.Errorf("recipe dead-letters, command %d: output lacks %q:\n%s", i+1, w, out)
			}
		}
	}
}
