package integration

import (
	"context"
	"errors"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/internal/devkit/jstest"
	"github.com/jetflow-dev/jetflow/internal/devkit/natscli"
	"github.com/jetflow-dev/jetflow/internal/devkit/standin"
	"github.com/jetflow-dev/jetflow/internal/devkit/testplatform"
	"github.com/jetflow-dev/jetflow/internal/envconfig"
	"github.com/jetflow-dev/jetflow/internal/stage"
	"github.com/jetflow-dev/jetflow/internal/worker"
	"github.com/jetflow-dev/jetflow/streams"
	"github.com/jetflow-dev/jetflow/workers"
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
	chat, ok := workers.ByName("chat-handler")
	if !ok {
		t.Fatal("workers.All has no chat-handler")
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
	// Published exactly as the README shows, as JSON with the nats CLI.
	cli.Run(ctx, t, "pub", streams.SubjectChatRequest, `{"query":"How does KEDA scale the workers?"}`,
		"-H", "Content-Type:application/json", "--jetstream")

	var out string
	jstest.Eventually(t, 20*time.Second, 100*time.Millisecond, func() error {
		out = cli.RunInTerminal(ctx, t, "stream", "view", streams.StreamDeadLetter)
		if !strings.Contains(out, stage.HeaderError) {
			return errors.New("no dead letter yet")
		}
		return nil
	})
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
}
