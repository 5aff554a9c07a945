package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/jetflow-dev/jetflow/internal/devkit/jstest"
	"github.com/jetflow-dev/jetflow/internal/devkit/testplatform"
	"github.com/jetflow-dev/jetflow/internal/envconfig"
	"github.com/jetflow-dev/jetflow/internal/gateway"
	"github.com/jetflow-dev/jetflow/internal/worker"
	"github.com/jetflow-dev/jetflow/platform"
	jetflowv1 "github.com/jetflow-dev/jetflow/proto/jetflow/v1"
	"github.com/jetflow-dev/jetflow/proto/jetflow/v1/jetflowv1connect"
)

// With JetStream gone the call fails at once with unavailable and a detail saying to retry.
func TestJetStreamUnavailable(t *testing.T) {
	p := testplatform.New(t)
	srv, err := gateway.New(gateway.Config{NC: p.NC, JS: p.JS})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := (&net.ListenConfig{}).Listen(p.Ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	jstest.Run(t, p.Ctx, func(ctx context.Context) error { return srv.Run(ctx, ln) })
	if err := p.Server.DisableJetStream(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(p.Ctx, 20*time.Second)
	defer cancel()
	_, err = jetflowv1connect.NewChatServiceClient(&http.Client{}, "http://"+ln.Addr().String()).Chat(ctx, &jetflowv1.ChatRequest{RequestId: "nobody-home", Query: "?"})
	if connect.CodeOf(err) != connect.CodeUnavailable {
		t.Fatalf("error %v, want unavailable", err)
	}
	if d := detailOf(t, err); d.GetCode() != gateway.DetailUnavailable || !d.GetRetryable() {
		t.Fatalf("detail %v", d)
	}
}

// Shutting the gateway down stops it accepting calls, and a call in flight still gets its
// answer within the grace period: here the worker that answers it starts only after the
// shutdown began.
func TestGracefulShutdown(t *testing.T) {
	h := newHarness(t, harnessOptions{noStart: []string{"chat-handler"}, config: func(c *gateway.Config) { c.GracePeriod = 30 * time.Second }})
	gwSubs, _ := h.baseline(t)
	answered := make(chan error, 1)
	go func() {
		_, err := h.chatClient().Chat(h.p.Ctx, &jetflowv1.ChatRequest{RequestId: "in-flight", Query: "How does KEDA scale the workers?"})
		answered <- err
	}()
	jstest.Eventually(t, 5*time.Second, 10*time.Millisecond, func() error {
		if g, _ := h.subscriptions(t); g != gwSubs+1 {
			return fmt.Errorf("the call is not waiting yet (%d subscriptions)", g)
		}
		return nil
	})
	stopped := make(chan error, 1)
	go func() { stopped <- h.stopGW() }()
	// New calls are refused once the listener is closed.
	jstest.Eventually(t, 5*time.Second, 10*time.Millisecond, func() error {
		c := &http.Client{}
		defer c.CloseIdleConnections()
		if _, err := jetflowv1connect.NewSpeechServiceClient(c, h.url).ListVoices(h.p.Ctx, &jetflowv1.ListVoicesRequest{}); err == nil {
			return fmt.Errorf("a new call was still accepted")
		}
		return nil
	})
	chat, _ := platform.ByName("chat-handler")
	jstest.Run(t, h.p.Ctx, func(ctx context.Context) error {
		return worker.Run(ctx, chat.Name, envconfig.Map(h.env), slog.New(slog.DiscardHandler), chat.Build)
	})
	if err := <-answered; err != nil {
		t.Fatalf("the call in flight failed: %v", err)
	}
	if err := <-stopped; err != nil {
		t.Fatalf("shutdown: %v", err)
	}
}
