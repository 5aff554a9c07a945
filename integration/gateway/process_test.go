package gateway

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"connectrpc.com/grpchealth"

	"github.com/jetflow-dev/jetflow/internal/devkit/healthlog"
	"github.com/jetflow-dev/jetflow/internal/devkit/jstest"
	"github.com/jetflow-dev/jetflow/internal/devkit/syncbuf"
	"github.com/jetflow-dev/jetflow/internal/envconfig"
	"github.com/jetflow-dev/jetflow/internal/gateway"
	"github.com/jetflow-dev/jetflow/internal/gateway/auth"
	"github.com/jetflow-dev/jetflow/internal/stage"
	"github.com/jetflow-dev/jetflow/internal/worker"
	jetflowv1 "github.com/jetflow-dev/jetflow/proto/jetflow/v1"
	"github.com/jetflow-dev/jetflow/proto/jetflow/v1/jetflowv1connect"
	"github.com/jetflow-dev/jetflow/streams"
)

// listeningAddr waits for the gateway's "gateway listening" log line and returns its address.
func listeningAddr(t *testing.T, log *syncbuf.Buffer) string {
	t.Helper()
	var addr string
	jstest.Eventually(t, 10*time.Second, 10*time.Millisecond, func() error {
		sc := bufio.NewScanner(strings.NewReader(log.String()))
		for sc.Scan() {
			var rec struct{ Msg, Addr string }
			if json.Unmarshal(sc.Bytes(), &rec) == nil && rec.Msg == "gateway listening" {
				addr = rec.Addr
				return nil
			}
		}
		return fmt.Errorf("no \"gateway listening\" in the log yet:\n%s", log.String())
	})
	return addr
}

// The gateway process as cmd/gateway builds it (worker shell, gateway.Build with
// Authentication): no key or a wrong one is refused, health answers without one, a key without
// admin rights is refused AdminService, a key over its rate or outside its services is refused,
// and a caller's name becomes the request's user_id.
func TestGatewayProcessWithAuthentication(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	key, err := auth.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	keys := filepath.Join(t.TempDir(), "keys.json")
	limited, err := auth.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keys, fmt.Appendf(nil, `{"callers":[{"name":"web-app","key_sha256":%q,"services":["*"]},
		{"name":"batch","key_sha256":%q,"services":["jetflow.v1.SpeechService"],"rate_per_second":0.01,"burst":1}]}`,
		auth.HashKey(key), auth.HashKey(limited)), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"NATS_URL": h.p.URL(), "HEALTH_ADDR": healthlog.AnyPort, "GATEWAY_ADDR": "127.0.0.1:0",
		"GATEWAY_KEYS_FILE": keys, "DEAD_LETTER_ADVISORIES": "false",
	}
	var log syncbuf.Buffer
	jstest.Run(t, h.p.Ctx, func(ctx context.Context) error {
		return worker.Run(ctx, "gateway", envconfig.Map(env), slog.New(slog.NewJSONHandler(&log, nil)), gateway.Build(gateway.Authentication, gateway.ServePage))
	})
	url := "http://" + listeningAddr(t, &log)
	ctx, cancel := context.WithTimeout(h.p.Ctx, 30*time.Second)
	defer cancel()

	health, err := grpchealth.NewClient(h.http, url).Check(ctx, &grpchealth.CheckRequest{})
	if err != nil || health.Status != grpchealth.StatusServing {
		t.Fatalf("health without a key: %v, %v", health, err)
	}

	// The binary serves the page too, without a key: the page asks for one itself.
	pageReq, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	pageResp, err := h.http.Do(pageReq)
	if err != nil {
		t.Fatalf("GET /: %v", err)
	}
	pageBody, err := io.ReadAll(pageResp.Body)
	pageResp.Body.Close()
	if err != nil || pageResp.StatusCode != http.StatusOK || !strings.Contains(string(pageBody), "<title>jetflow</title>") {
		t.Fatalf("GET / without a key: %d, %v, %.200s; want the page", pageResp.StatusCode, err, pageBody)
	}

	question := &jetflowv1.ChatRequest{RequestId: "keyed", Query: "How does KEDA scale the workers?"}
	if _, err := jetflowv1connect.NewChatServiceClient(h.http, url).Chat(ctx, question); connect.CodeOf(err) != connect.CodeUnauthenticated {
		t.Fatalf("no key: %v, want unauthenticated", err)
	}
	if _, err := jetflowv1connect.NewChatServiceClient(h.http, url, withKey("jf_wrong")).Chat(ctx, question); connect.CodeOf(err) != connect.CodeUnauthenticated {
		t.Fatalf("wrong key: %v, want unauthenticated", err)
	}
	resp, err := jetflowv1connect.NewChatServiceClient(h.http, url, withKey(key)).Chat(ctx, question)
	if err != nil || resp.GetAnswer() == "" {
		t.Fatalf("with the key: %v, %v", resp, err)
	}
	_, err = jetflowv1connect.NewAdminServiceClient(h.http, url, withKey(key)).Status(ctx, &jetflowv1.StatusRequest{})
	if connect.CodeOf(err) != connect.CodePermissionDenied {
		t.Fatalf("AdminService without admin rights: %v, want permission_denied", err)
	}

	// A key over its rate is refused with resource_exhausted and told when to come back; a key
	// is refused the services it was not given.
	speech := jetflowv1connect.NewSpeechServiceClient(h.http, url, withKey(limited))
	if _, err := speech.ListVoices(ctx, &jetflowv1.ListVoicesRequest{}); err != nil {
		t.Fatalf("the limited key's first call: %v", err)
	}
	_, err = speech.ListVoices(ctx, &jetflowv1.ListVoicesRequest{})
	var over *connect.Error
	if !errors.As(err, &over) || over.Code() != connect.CodeResourceExhausted || over.Meta().Get(auth.RetryAfterHeader) == "" {
		t.Fatalf("the limited key's second call: %v, want resource_exhausted with %s", err, auth.RetryAfterHeader)
	}
	if _, err := jetflowv1connect.NewChatServiceClient(h.http, url, withKey(limited)).Chat(ctx, question); connect.CodeOf(err) != connect.CodePermissionDenied {
		t.Fatalf("a key for SpeechService asking ChatService: %v, want permission_denied", err)
	}

	// The caller's name, not what the client wrote, is the request's user: read it from the
	// dead letter of a trigger pipeline-bridge refuses.
	stream, err := jetflowv1connect.NewPipelineServiceClient(h.http, url, withKey(key)).Trigger(ctx,
		&jetflowv1.TriggerRequest{Trigger: &jetflowv1.PipelineTrigger{RequestId: "who-asked", Pipeline: "drop-tables", UserId: "someone-else"}})
	if err == nil {
		for stream.Receive() {
		}
		err = stream.Err()
	}
	if connect.CodeOf(err) != connect.CodeFailedPrecondition {
		t.Fatalf("trigger off the allow-list: %v", err)
	}
	letters := jstest.Stored(t, ctx, h.p.JS, streams.StreamDeadLetter, streams.DeadLetterSubject(streams.ConsumerPipelineBridge))
	trigger := &jetflowv1.PipelineTrigger{}
	if err := stage.Decode(letters[len(letters)-1].Header, letters[len(letters)-1].Data, trigger); err != nil {
		t.Fatal(err)
	}
	if trigger.GetRequestId() != "who-asked" || trigger.GetUserId() != "web-app" {
		t.Fatalf("dead-lettered trigger %v: want user_id web-app", trigger)
	}
}

// withKey is a client option that sends an API key with every call.
func withKey(key string) connect.ClientOption {
	return connect.WithInterceptors(headerInterceptor{"Authorization", "Bearer " + key})
}
