package gateway

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"connectrpc.com/connect"
	"connectrpc.com/grpchealth"

	"github.com/jetflow-dev/jetflow/internal/devkit/healthlog"
	"github.com/jetflow-dev/jetflow/internal/devkit/syncbuf"
	"github.com/jetflow-dev/jetflow/internal/devkit/testbin"
	"github.com/jetflow-dev/jetflow/internal/devkit/testplatform"
	"github.com/jetflow-dev/jetflow/internal/gateway/auth"
	jetflowv1 "github.com/jetflow-dev/jetflow/proto/jetflow/v1"
	"github.com/jetflow-dev/jetflow/proto/jetflow/v1/jetflowv1connect"
)

// TestMain removes the binaries testbin built for this package's tests.
func TestMain(m *testing.M) {
	code := m.Run()
	if err := testbin.RemoveBuilt(); err != nil && code == 0 {
		code = 1
	}
	os.Exit(code)
}

// The gateway binary as deployed: it starts on its environment, answers health without a key,
// refuses a call without one, and stops cleanly on SIGTERM.
func TestGatewayBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the gateway binary")
	}
	p := testplatform.New(t)
	bin := testbin.Path(t, "gateway", "./cmd/gateway")
	keys := filepath.Join(t.TempDir(), "keys.json")
	if err := os.WriteFile(keys, []byte(`{"callers":[{"name":"app","key_sha256":"`+auth.HashKey("jf_test")+`","services":["*"]}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(p.Ctx, bin)
	cmd.Env = append(os.Environ(), "NATS_URL="+p.URL(), "HEALTH_ADDR="+healthlog.AnyPort, "GATEWAY_ADDR=127.0.0.1:0",
		"GATEWAY_KEYS_FILE="+keys, "DEAD_LETTER_ADVISORIES=false")
	var log syncbuf.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		if err := <-exited; err != nil {
			t.Logf("gateway after the kill of the cleanup: %v", err)
		}
	})
	url := "http://" + listeningAddr(t, &log)
	ctx, cancel := context.WithTimeout(p.Ctx, 10*time.Second)
	defer cancel()
	health, err := grpchealth.NewClient(&http.Client{}, url).Check(ctx, &grpchealth.CheckRequest{Service: "jetflow.v1.ChatService"})
	if err != nil || health.Status != grpchealth.StatusServing {
		t.Fatalf("health: %v, %v", health, err)
	}
	_, err = jetflowv1connect.NewSpeechServiceClient(&http.Client{}, url).ListVoices(ctx, &jetflowv1.ListVoicesRequest{})
	if connect.CodeOf(err) != connect.CodeUnauthenticated {
		t.Fatalf("a call without a key: %v, want unauthenticated", err)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		exited <- err // for the cleanup
		if err != nil {
			t.Fatalf("stopped with %v:\n%s", err, log.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("still running 20 s after SIGTERM:\n%s", log.String())
	}
}
