package auth_test

import (
	"context"
	"regexp"
	"testing"

	"github.com/jetflow-dev/jetflow/internal/gateway/auth"
	jetflowv1 "github.com/jetflow-dev/jetflow/proto/jetflow/v1"
	"github.com/jetflow-dev/jetflow/proto/jetflow/v1/jetflowv1connect"
)

func TestHashKeyIsSHA256Hex(t *testing.T) {
	// The value `printf %s abc | sha256sum` prints: what the README tells operators to run.
	const want = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
	if got := auth.HashKey("abc"); got != want {
		t.Fatalf("HashKey(abc) = %s, want %s", got, want)
	}
}

func TestNewKey(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		key := newKey(t)
		if !regexp.MustCompile(`^jf_[A-Za-z0-9_-]{43}$`).MatchString(key) {
			t.Fatalf("key %q: want jf_ and 43 base64url characters", key)
		}
		if seen[key] {
			t.Fatalf("key %q made twice", key)
		}
		seen[key] = true
	}
}

func TestDevKeysCallEverything(t *testing.T) {
	key, keys, err := auth.NewDevKeys("dev")
	if err != nil {
		t.Fatal(err)
	}
	a, err := auth.New(auth.Config{Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	url := serve(t, a)
	ctx := context.Background()
	resp, err := jetflowv1connect.NewChatServiceClient(h2cClient(), url, bearer(key)).Chat(ctx, &jetflowv1.ChatRequest{})
	if err != nil || resp.GetAnswer() != "dev/api_key" {
		t.Fatalf("chat with the dev key: %v, %v", resp, err)
	}
	admin := jetflowv1connect.NewAdminServiceClient(h2cClient(), url, bearer(key))
	for range 50 { // no rate limit
		if _, err := admin.Status(ctx, &jetflowv1.StatusRequest{}); err != nil {
			t.Fatalf("AdminService with the dev key: %v", err)
		}
	}
}
