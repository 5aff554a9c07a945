package integration

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/internal/devkit/jstest"
	"github.com/jetflow-dev/jetflow/internal/devkit/natscli"
	"github.com/jetflow-dev/jetflow/internal/devkit/testplatform"
	"github.com/jetflow-dev/jetflow/internal/failure"
	"github.com/jetflow-dev/jetflow/internal/stage"
	jetflowv1 "github.com/jetflow-dev/jetflow/proto/jetflow/v1"
	"github.com/jetflow-dev/jetflow/streams"
)

// The README's recipe to look at dead letters, `nats stream view AI_DLQ`, shows the original
// payload and every Jetflow-* header.
func TestDeadLetterShownByNatsStreamView(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the nats CLI")
	}
	p := testplatform.New(t)
	js, ctx := p.JS, p.Ctx
	s, err := stage.New(js, stage.Config{Name: streams.ConsumerTTS, Stream: streams.StreamTTS, Consumer: streams.ConsumerTTS},
		stage.Typed(func(ctx context.Context, req *jetflowv1.TtsRequest, in *stage.Input) ([]stage.Output, error) {
			return nil, failure.Permanentf("voice %q is not installed", req.GetVoice())
		}))
	if err != nil {
		t.Fatal(err)
	}
	jstest.Run(t, ctx, s.Run)

	cli := natscli.New(t, p.URL())
	// Published exactly as the README shows, as JSON with the nats CLI.
	cli.Run(ctx, t, "pub", streams.SubjectTTSRequest, `{"request_id":"r-42","text":"hello there","voice":"nope"}`,
		"-H", "Content-Type:application/json", "-H", "Client:readme", "--jetstream")

	var out string
	jstest.Eventually(t, 20*time.Second, 100*time.Millisecond, func() error {
		out = cli.RunInTerminal(ctx, t, "stream", "view", streams.StreamDeadLetter)
		if !strings.Contains(out, stage.HeaderError) {
			return errors.New("no dead letter yet")
		}
		return nil
	})
	wants := []string{
		"hello there",
		stage.HeaderError, `voice \"nope\" is not installed`,
		stage.HeaderErrorKind, stage.KindPermanent,
		stage.HeaderStage, streams.ConsumerTTS,
		stage.HeaderOriginalSubject, streams.SubjectTTSRequest,
		stage.HeaderOriginalStream, streams.StreamTTS,
		stage.HeaderStreamSeq, stage.HeaderDeliveries, stage.HeaderFailedAt,
		"Client", "readme",
		streams.DeadLetterSubject(streams.ConsumerTTS),
	}
	t.Logf("nats stream view:\n%s", out)
	for _, w := range wants {
		if !strings.Contains(out, w) && !strings.Contains(out, strings.ReplaceAll(w, `\"`, `"`)) {
			t.Errorf("nats stream view output lacks %q:\n%s", w, out)
		}
	}
}
