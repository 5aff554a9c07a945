package auth_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/jetflow-dev/jetflow/internal/gateway/auth"
	jetflowv1 "github.com/jetflow-dev/jetflow/proto/jetflow/v1"
	"github.com/jetflow-dev/jetflow/proto/jetflow/v1/jetflowv1connect"
)

// chatService answers with who the interceptor says is calling, so a test sees the Caller
// reach the handler.
type chatService struct {
	jetflowv1connect.UnimplementedChatServiceHandler
}

func callerText(ctx context.Context) string {
	c, ok := auth.CallerFrom(ctx)
	if !ok {
		return "<no caller>"
	}
	return c.Name + "/" + c.Via
}

func (chatService) Chat(ctx context.Context, _ *jetflowv1.ChatRequest) (*jetflowv1.ChatResponse, error) {
	return &jetflowv1.ChatResponse{Answer: callerText(ctx)}, nil
}

func (chatService) ChatStream(ctx context.Context, _ *jetflowv1.ChatStreamRequest, stream *connect.ServerStream[jetflowv1.ChatStreamResponse]) error {
	for range 2 {
		if err := stream.Send(&jetflowv1.ChatStreamResponse{Event: &jetflowv1.ChatStreamResponse_Response{
			Response: &jetflowv1.ChatResponse{Answer: callerText(ctx)},
		}}); err != nil {
			return err
		}
	}
	return nil
}

type adminService struct {
	jetflowv1connect.UnimplementedAdminServiceHandler
}

func (adminService) Status(context.Context, *jetflowv1.StatusRequest) (*jetflowv1.StatusResponse, error) {
	return &jetflowv1.StatusResponse{}, nil
}

const healthCheck = "/grpc.health.v1.Health/Check"

// handler serves chat, admin and a health procedure behind a's middleware and interceptor, the
// way cmd/gateway wires them.
func handler(a *auth.Authenticator) http.Handler {
	opts := connect.WithInterceptors(a.Interceptor())
	mux := http.NewServeMux()
	mux.Handle(jetflowv1connect.NewChatServiceHandler(chatService{}, opts))
	mux.Handle(jetflowv1connect.NewAdminServiceHandler(adminService{}, opts))
	mux.Handle(healthCheck, connect.NewUnaryHandler(healthCheck,
		func(context.Context, *connect.Request[emptypb.Empty]) (*connect.Response[emptypb.Empty], error) {
			return connect.NewResponse(&emptypb.Empty{}), nil
		}, opts))
	return a.Middleware(mux)
}

// serve starts a plain HTTP/2 (h2c) server, as the gateway serves without a certificate.
func serve(t *testing.T, a *auth.Authenticator) string {
	t.Helper()
	srv := httptest.NewUnstartedServer(handler(a))
	srv.Config.Protocols = new(http.Protocols)
	srv.Config.Protocols.SetHTTP1(true)
	srv.Config.Protocols.SetUnencryptedHTTP2(true)
	srv.Start()
	t.Cleanup(srv.Close)
	return srv.URL
}

func h2cClient() *http.Client {
	tr := &http.Transport{Protocols: new(http.Protocols)}
	tr.Protocols.SetUnencryptedHTTP2(true)
	return &http.Client{Transport: tr}
}

func tlsClient(cfg *tls.Config) *http.Client {
	return &http.Client{Transport: &http.Transport{TLSClientConfig: cfg, ForceAttemptHTTP2: true}}
}

// withKey sets a request header on every call of a client: how an application sends its key.
func withHeader(name, value string) connect.ClientOption {
	return connect.WithInterceptors(connect.UnaryInterceptorFunc(func(next connect.UnaryFunc) connect.UnaryFunc {
		return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
			req.Header().Set(name, value)
			return next(ctx, req)
		}
	}), headerStreamInterceptor{name, value})
}

type headerStreamInterceptor struct{ name, value string }

func (h headerStreamInterceptor) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc { return next }

func (h headerStreamInterceptor) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return func(ctx context.Context, spec connect.Spec) connect.StreamingClientConn {
		conn := next(ctx, spec)
		conn.RequestHeader().Set(h.name, h.value)
		return conn
	}
}

func (h headerStreamInterceptor) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return next
}

func bearer(key string) connect.ClientOption { return withHeader("Authorization", "Bearer "+key) }

// writeKeys writes kf as the key file at path, replacing it in one rename as an editor or a
// config tool would.
func writeKeys(t *testing.T, path string, kf auth.KeyFile) {
	t.Helper()
	data, err := json.Marshal(kf)
	if err != nil {
		t.Fatal(err)
	}
	writeRaw(t, path, data)
}

func writeRaw(t *testing.T, path string, data []byte) {
	t.Helper()
	tmp := filepath.Join(filepath.Dir(path), ".tmp-"+filepath.Base(path))
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func newKey(t *testing.T) string {
	t.Helper()
	key, err := auth.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func codeOf(err error) connect.Code {
	if err == nil {
		return 0
	}
	return connect.CodeOf(err)
}
