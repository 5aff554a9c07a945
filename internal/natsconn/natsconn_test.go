package natsconn

import (
	"context"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/internal/devkit/jstest"
	"github.com/jetflow-dev/jetflow/internal/devkit/natsserver"
	"github.com/jetflow-dev/jetflow/internal/devkit/syncbuf"
	"github.com/jetflow-dev/jetflow/internal/envconfig"
)

func TestConnectWithUserPasswordAndNoSecretInLogs(t *testing.T) {
	conf := filepath.Join(t.TempDir(), "server.conf")
	if err := os.WriteFile(conf, []byte(`authorization { user: worker, password: s3cret-pw }`), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := jstest.Server(t, func(o *natsserver.Options) { o.ConfigFile = conf })
	// NATS callbacks log from their own goroutines while the test reads.
	var logs syncbuf.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))

	r := envconfig.New(envconfig.Map(map[string]string{
		"NATS_URL": srv.ClientURL(), "NATS_USER": "worker", "NATS_PASSWORD": "s3cret-pw",
	}))
	cfg := FromEnv(r, "test")
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	nc, err := Connect(context.Background(), cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	log.Info("config", "nats", cfg)
	if strings.Contains(logs.String(), "s3cret-pw") {
		t.Fatalf("password in logs: %s", logs.String())
	}

	bad := cfg
	bad.Password = "wrong"
	bad.ConnectTimeout = 300 * time.Millisecond
	if _, err := Connect(context.Background(), bad, log); err == nil {
		t.Fatal("wrong password connected")
	} else if strings.Contains(err.Error(), "wrong") {
		t.Fatalf("error repeats the password: %v", err)
	}
}

func TestReconnectsAfterServerRestart(t *testing.T) {
	dir := t.TempDir()
	srv, err := natsserver.Start(natsserver.Options{StoreDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	port := srv.Addr().(*net.TCPAddr).Port
	nc, err := Connect(context.Background(), Config{URL: srv.ClientURL(), Name: "t"}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	srv.Shutdown()
	jstest.Eventually(t, 5*time.Second, 10*time.Millisecond, func() error {
		if nc.IsConnected() {
			return jstest.Errorf("still connected")
		}
		return nil
	})
	srv2, err := natsserver.Start(natsserver.Options{StoreDir: dir, Port: port})
	if err != nil {
		t.Fatal(err)
	}
	defer srv2.Shutdown()
	jstest.Eventually(t, 10*time.Second, 20*time.Millisecond, func() error {
		if !nc.IsConnected() {
			return jstest.Errorf("not reconnected")
		}
		return nil
	})
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{name: "default", cfg: Config{URL: "nats://127.0.0.1:4222"}, ok: true},
		{name: "cluster list", cfg: Config{URL: "nats://a:4222,nats://b:4222"}, ok: true},
		{name: "two auth methods", cfg: Config{URL: "nats://a:4222", Token: "t", User: "u", Password: "p"}},
		{name: "user without password", cfg: Config{URL: "nats://a:4222", User: "u"}},
		{name: "cert without key", cfg: Config{URL: "nats://a:4222", TLSCert: "c"}},
		{name: "not a url", cfg: Config{URL: "::"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.cfg.Validate(); (err == nil) != tt.ok {
				t.Fatalf("Validate() = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

func TestRedactURL(t *testing.T) {
	got := redactURL("nats://u:pw@a:4222,nats://b:4222")
	if strings.Contains(got, "pw") || !strings.Contains(got, "b:4222") {
		t.Fatalf("redactURL = %q", got)
	}
}
