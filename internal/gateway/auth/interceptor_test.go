package auth_test

import (
	"context"
	"errors"
	"path/filepath"
	"strconv"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/jetflow-dev/jetflow/internal/gateway/auth"
	jetflowv1 "github.com/jetflow-dev/jetflow/proto/jetflow/v1"
	"github.com/jetflow-dev/jetflow/proto/jetflow/v1/jetflowv1connect"
)

type keys struct {
	chat, speechOnly, everything, admin string
}

func fixture(t *testing.T) (string, keys) {
	t.Helper()
	k := keys{chat: newKey(t), speechOnly: newKey(t), everything: newKey(t), admin: newKey(t)}
	a, err := auth.New(auth.Config{Keys: &auth.KeyFile{Callers: []auth.Entry{
		{Name: "web-app", KeySHA256: auth.HashKey(k.chat), Services: []string{"jetflow.v1.ChatService"}},
		{Name: "speaker", KeySHA256: auth.HashKey(k.speechOnly), Services: []string{"jetflow.v1.SpeechService"}},
		{Name: "all-but-admin", KeySHA256: auth.HashKey(k.everything), Services: []string{"*"}},
		{Name: "ops", KeySHA256: auth.HashKey(k.admin), Services: []string{"*"}, Admin: true},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	return serve(t, a), k
}

func TestWhoMayCall(t *testing.T) {
	url, k := fixture(t)
	ctx := context.Background()
	tests := []struct {
		name       string
		opts       []connect.ClientOption
		admin      bool // call AdminService/Status instead of ChatService/Chat
		want       connect.Code
		wantCaller string
	}{
		{name: "no key", want: connect.CodeUnauthenticated},
		{name: "wrong key", opts: []connect.ClientOption{bearer("jf_not-a-key-anyone-has")}, want: connect.CodeUnauthenticated},
		{name: "key hash instead of key", opts: []connect.ClientOption{bearer(auth.HashKey(k.chat))}, want: connect.CodeUnauthenticated},
		{name: "empty bearer", opts: []connect.ClientOption{withHeader("Authorization", "Bearer ")}, want: connect.CodeUnauthenticated},
		{name: "basic scheme", opts: []connect.ClientOption{withHeader("Authorization", "Basic "+k.chat)}, want: connect.CodeUnauthenticated},
		{name: "bearer key", opts: []connect.ClientOption{bearer(k.chat)}, wantCaller: "web-app/api_key"},
		{name: "lowercase bearer scheme", opts: []connect.ClientOption{withHeader("Authorization", "bearer "+k.chat)}, wantCaller: "web-app/api_key"},
		{name: "x-api-key", opts: []connect.ClientOption{withHeader("x-api-key", k.chat)}, wantCaller: "web-app/api_key"},
		{name: "key for another service", opts: []connect.ClientOption{bearer(k.speechOnly)}, want: connect.CodePermissionDenied},
		{name: "star key", opts: []connect.ClientOption{bearer(k.everything)}, wantCaller: "all-but-admin/api_key"},
		{name: "non-admin on AdminService", opts: []connect.ClientOption{bearer(k.everything)}, admin: true, want: connect.CodePermissionDenied},
		{name: "chat key on AdminService", opts: []connect.ClientOption{bearer(k.chat)}, admin: true, want: connect.CodePermissionDenied},
		{name: "no key on AdminService", admin: true, want: connect.CodeUnauthenticated},
		{name: "admin on AdminService", opts: []connect.ClientOption{bearer(k.admin)}, admin: true},
	}
	for _, proto := range []struct {
		name string
		opts []connect.ClientOption
	}{{"connect", nil}, {"grpc", []connect.ClientOption{connect.WithGRPC()}}, {"grpcweb", []connect.ClientOption{connect.WithGRPCWeb()}}} {
		for _, tt := range tests {
			t.Run(proto.name+"/"+tt.name, func(t *testing.T) {
				opts := append(append([]connect.ClientOption{}, proto.opts...), tt.opts...)
				var err error
				var answer string
				if tt.admin {
					_, err = jetflowv1connect.NewAdminServiceClient(h2cClient(), url, opts...).Status(ctx, &jetflowv1.StatusRequest{})
				} else {
					var resp *jetflowv1.ChatResponse
					resp, err = jetflowv1connect.NewChatServiceClient(h2cClient(), url, opts...).Chat(ctx, &jetflowv1.ChatRequest{})
					if err == nil {
						answer = resp.GetAnswer()
					}
				}
				if got := codeOf(err); got != tt.want {
					t.Fatalf("code = %v (%v), want %v", got, err, tt.want)
				}
				if tt.wantCaller != "" && answer != tt.wantCaller {
					t.Errorf("handler saw caller %q, want %q", answer, tt.wantCaller)
				}
				var ce *connect.Error
				if errors.As(err, &ce) && ce.Message() == "" {
					t.Errorf("refusal without a message saying why: %v", err)
				}
			})
		}
	}
}

func TestHealthNeedsNoKey(t *testing.T) {
	url, _ := fixture(t)
	client := connect.NewClient[emptypb.Empty, emptypb.Empty](h2cClient(), url+healthCheck, connect.WithGRPC())
	if _, err := client.CallUnary(context.Background(), connect.NewRequest(&emptypb.Empty{})); err != nil {
		t.Fatalf("health check without a key: %v", err)
	}
}

// rateLimited checks err is resource_exhausted with a Retry-After a client can act on, both as
// metadata and as error details.
func checkRateLimited(t *testing.T, err error) {
	t.Helper()
	var ce *connect.Error
	if !errors.As(err, &ce) || ce.Code() != connect.CodeResourceExhausted {
		t.Fatalf("err = %v, want resource_exhausted", err)
	}
	secs, perr := strconv.Atoi(ce.Meta().Get(auth.RetryAfterHeader))
	if perr != nil || secs < 1 {
		t.Fatalf("Retry-After = %q, want whole seconds >= 1 (metadata %v)", ce.Meta().Get(auth.RetryAfterHeader), ce.Meta())
	}
	var sawDetail, sawRetryInfo bool
	for _, d := range ce.Details() {
		v, derr := d.Value()
		if derr != nil {
			t.Fatalf("decoding detail %s: %v", d.Type(), derr)
		}
		switch v := v.(type) {
		case *jetflowv1.ErrorDetail:
			sawDetail = v.GetCode() == "rate_limited" && v.GetRetryable()
		case *errdetails.RetryInfo:
			sawRetryInfo = v.GetRetryDelay().AsDuration().Seconds() == float64(secs)
		}
	}
	if !sawDetail || !sawRetryInfo {
		t.Errorf("details %v: want a retryable rate_limited ErrorDetail and a RetryInfo of %ds", ce.Details(), secs)
	}
}

func rateFixture(t *testing.T) (url, limited, other string) {
	t.Helper()
	limited, other = newKey(t), newKey(t)
	path := filepath.Join(t.TempDir(), "keys.json")
	// One call a minute, two at once: the third call in a row must wait about a minute.
	writeKeys(t, path, auth.KeyFile{Callers: []auth.Entry{
		{Name: "limited", KeySHA256: auth.HashKey(limited), Services: []string{"*"}, RatePerSecond: 1.0 / 60, Burst: 2},
		{Name: "other", KeySHA256: auth.HashKey(other), Services: []string{"*"}, RatePerSecond: 1.0 / 60, Burst: 2},
	}})
	a, err := auth.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return serve(t, a), limited, other
}

func TestOverRateUnary(t *testing.T) {
	for _, proto := range []struct {
		name string
		opts []connect.ClientOption
	}{{"connect", nil}, {"grpc", []connect.ClientOption{connect.WithGRPC()}}, {"grpcweb", []connect.ClientOption{connect.WithGRPCWeb()}}} {
		t.Run(proto.name, func(t *testing.T) {
			url, limited, other := rateFixture(t)
			ctx := context.Background()
			client := jetflowv1connect.NewChatServiceClient(h2cClient(), url, append(proto.opts, bearer(limited))...)
			for i := range 2 {
				if _, err := client.Chat(ctx, &jetflowv1.ChatRequest{}); err != nil {
					t.Fatalf("call %d within the burst: %v", i+1, err)
				}
			}
			_, err := client.Chat(ctx, &jetflowv1.ChatRequest{})
			checkRateLimited(t, err)
			// The bucket is the caller's: another key is not slowed down by this one.
			otherClient := jetflowv1connect.NewChatServiceClient(h2cClient(), url, append(proto.opts, bearer(other))...)
			if _, err := otherClient.Chat(ctx, &jetflowv1.ChatRequest{}); err != nil {
				t.Fatalf("another caller: %v", err)
			}
		})
	}
}

func TestOverRateStream(t *testing.T) {
	for _, proto := range []struct {
		name string
		opts []connect.ClientOption
	}{{"connect", nil}, {"grpc", []connect.ClientOption{connect.WithGRPC()}}, {"grpcweb", []connect.ClientOption{connect.WithGRPCWeb()}}} {
		t.Run(proto.name, func(t *testing.T) {
			url, limited, _ := rateFixture(t)
			ctx := context.Background()
			client := jetflowv1connect.NewChatServiceClient(h2cClient(), url, append(proto.opts, bearer(limited))...)
			drain := func() ([]string, error) {
				stream, err := client.ChatStream(ctx, &jetflowv1.ChatStreamRequest{})
				if err != nil {
					return nil, err
				}
				defer stream.Close()
				var got []string
				for stream.Receive() {
					got = append(got, stream.Msg().GetResponse().GetAnswer())
				}
				return got, stream.Err()
			}
			for i := range 2 {
				got, err := drain()
				if err != nil || len(got) != 2 || got[0] != "limited/api_key" {
					t.Fatalf("stream %d within the burst: got %v, %v", i+1, got, err)
				}
			}
			got, err := drain()
			if len(got) != 0 {
				t.Errorf("a refused stream delivered %v", got)
			}
			checkRateLimited(t, err)
		})
	}
}
