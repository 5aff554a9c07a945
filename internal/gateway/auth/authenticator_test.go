package auth_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/jetflow-dev/jetflow/internal/devkit/jstest"
	"github.com/jetflow-dev/jetflow/internal/devkit/syncbuf"
	"github.com/jetflow-dev/jetflow/internal/gateway/auth"
	jetflowv1 "github.com/jetflow-dev/jetflow/proto/jetflow/v1"
	"github.com/jetflow-dev/jetflow/proto/jetflow/v1/jetflowv1connect"
)

// secretMount lays out a directory the way the kubelet mounts a Secret: keys.json is a symlink
// to ..data/keys.json and ..data a symlink to a timestamped directory; an update writes a new
// directory and renames a new ..data over the old one, so the file is never written in place.
type secretMount struct {
	t       *testing.T
	dir     string
	version int
}

func newSecretMount(t *testing.T) *secretMount {
	m := &secretMount{t: t, dir: t.TempDir()}
	if err := os.Symlink(filepath.Join("..data", "keys.json"), m.path()); err != nil {
		t.Fatal(err)
	}
	return m
}

func (m *secretMount) path() string { return filepath.Join(m.dir, "keys.json") }

func (m *secretMount) update(data []byte) {
	m.t.Helper()
	m.version++
	version := fmt.Sprintf("..2026_12_03_%02d", m.version)
	if err := os.Mkdir(filepath.Join(m.dir, version), 0o755); err != nil {
		m.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(m.dir, version, "keys.json"), data, 0o600); err != nil {
		m.t.Fatal(err)
	}
	tmp := filepath.Join(m.dir, "..data_tmp")
	if err := os.Symlink(version, tmp); err != nil {
		m.t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(m.dir, "..data")); err != nil {
		m.t.Fatal(err)
	}
}

func (m *secretMount) updateKeys(kf auth.KeyFile) {
	m.t.Helper()
	data, err := json.Marshal(kf)
	if err != nil {
		m.t.Fatal(err)
	}
	m.update(data)
}

func chatCaller(name, key string) auth.Entry {
	return auth.Entry{Name: name, KeySHA256: auth.HashKey(key), Services: []string{"jetflow.v1.ChatService"}}
}

func chatWith(url, key string) error {
	_, err := jetflowv1connect.NewChatServiceClient(h2cClient(), url, bearer(key)).Chat(context.Background(), &jetflowv1.ChatRequest{})
	return err
}

func TestReloadFromSecretMount(t *testing.T) {
	ctx := jstest.Context(t)
	oldKey, newKey := newKey(t), newKey(t)
	mount := newSecretMount(t)
	mount.updateKeys(auth.KeyFile{Callers: []auth.Entry{chatCaller("before", oldKey)}})
	a, err := auth.New(auth.Config{KeysFile: mount.path(), ReloadInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	jstest.Run(t, ctx, a.Run)
	url := serve(t, a)
	if err := chatWith(url, oldKey); err != nil {
		t.Fatalf("key from the first file: %v", err)
	}
	if err := chatWith(url, newKey); codeOf(err) != connect.CodeUnauthenticated {
		t.Fatalf("key not yet in the file: %v, want unauthenticated", err)
	}

	mount.updateKeys(auth.KeyFile{Callers: []auth.Entry{chatCaller("after", newKey)}})
	jstest.Eventually(t, 5*time.Second, 10*time.Millisecond, func() error { return chatWith(url, newKey) })
	if err := chatWith(url, oldKey); codeOf(err) != connect.CodeUnauthenticated {
		t.Fatalf("key removed from the file: %v, want unauthenticated", err)
	}
}

func TestBrokenFileKeepsTheCallers(t *testing.T) {
	for _, tt := range []struct {
		name      string
		breakFile func(m *secretMount)
		log       string
	}{
		{name: "not JSON", breakFile: func(m *secretMount) { m.update([]byte(`{"callers": [`)) }, log: "decoding JSON"},
		{name: "invalid entry", breakFile: func(m *secretMount) {
			m.update([]byte(`{"callers":[{"name":"x","key_sha256":"not-hex","services":["*"]}]}`))
		}, log: "key_sha256"},
		{name: "misspelt field", breakFile: func(m *secretMount) {
			m.update([]byte(`{"callers":[{"name":"x","key_sha256":"` + strings.Repeat("a", 64) + `","servces":["*"]}]}`))
		}, log: "servces"},
		{name: "empty file", breakFile: func(m *secretMount) { m.update(nil) }, log: "decoding JSON"},
		{name: "file gone", breakFile: func(m *secretMount) {
			if err := os.Remove(filepath.Join(m.dir, "..data")); err != nil {
				m.t.Fatal(err)
			}
		}, log: "opening the key file"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx := jstest.Context(t)
			key, laterKey := newKey(t), newKey(t)
			mount := newSecretMount(t)
			mount.updateKeys(auth.KeyFile{Callers: []auth.Entry{chatCaller("app", key)}})
			var logs syncbuf.Buffer
			a, err := auth.New(auth.Config{
				KeysFile: mount.path(), ReloadInterval: 5 * time.Millisecond,
				Logger: slog.New(slog.NewTextHandler(&logs, nil)),
			})
			if err != nil {
				t.Fatal(err)
			}
			jstest.Run(t, ctx, a.Run)
			url := serve(t, a)

			tt.breakFile(mount)
			jstest.Eventually(t, 5*time.Second, 5*time.Millisecond, func() error {
				if !strings.Contains(logs.String(), tt.log) {
					return fmt.Errorf("log has no %q yet:\n%s", tt.log, logs.String())
				}
				return nil
			})
			jstest.Consistently(t, 100*time.Millisecond, 10*time.Millisecond, func() error { return chatWith(url, key) })
			if n := strings.Count(logs.String(), "keeping the callers"); n != 1 {
				t.Errorf("the same error logged %d times, want once:\n%s", n, logs.String())
			}

			// Fixed: the new file is loaded.
			mount.updateKeys(auth.KeyFile{Callers: []auth.Entry{chatCaller("app", laterKey)}})
			jstest.Eventually(t, 5*time.Second, 5*time.Millisecond, func() error { return chatWith(url, laterKey) })
		})
	}
}

func TestReloadKeepsTheBucket(t *testing.T) {
	ctx := jstest.Context(t)
	key, otherKey := newKey(t), newKey(t)
	mount := newSecretMount(t)
	limited := auth.Entry{Name: "limited", KeySHA256: auth.HashKey(key), Services: []string{"*"}, RatePerSecond: 1.0 / 60, Burst: 1}
	mount.updateKeys(auth.KeyFile{Callers: []auth.Entry{limited}})
	a, err := auth.New(auth.Config{KeysFile: mount.path(), ReloadInterval: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	jstest.Run(t, ctx, a.Run)
	url := serve(t, a)
	if err := chatWith(url, key); err != nil {
		t.Fatal(err)
	}
	// Someone else's entry is added: the limited caller's empty bucket must not refill.
	mount.updateKeys(auth.KeyFile{Callers: []auth.Entry{limited, chatCaller("other", otherKey)}})
	jstest.Eventually(t, 5*time.Second, 5*time.Millisecond, func() error { return chatWith(url, otherKey) })
	checkRateLimited(t, chatWith(url, key))
}

func TestNewRefusesABadStart(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	writeRaw(t, bad, []byte(`{"callers": 1}`))
	for _, tt := range []struct {
		name string
		cfg  auth.Config
		want string
	}{
		{"nothing", auth.Config{}, "no key file and no keys"},
		{"missing file", auth.Config{KeysFile: filepath.Join(dir, "none.json")}, "opening the key file"},
		{"invalid file", auth.Config{KeysFile: bad}, "decoding JSON"},
		{"invalid keys", auth.Config{Keys: &auth.KeyFile{Callers: []auth.Entry{{Name: "x"}}}}, "neither key_sha256 nor client_cert"},
		{"negative interval", auth.Config{KeysFile: bad, ReloadInterval: -time.Second}, "negative"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := auth.New(tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestRunReturnsWhenTheContextEnds(t *testing.T) {
	mount := newSecretMount(t)
	mount.updateKeys(auth.KeyFile{Callers: []auth.Entry{chatCaller("app", newKey(t))}})
	fromFile, err := auth.New(auth.Config{KeysFile: mount.path(), ReloadInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	_, keys, err := auth.NewDevKeys("dev")
	if err != nil {
		t.Fatal(err)
	}
	inCode, err := auth.New(auth.Config{Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []*auth.Authenticator{fromFile, inCode} {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- a.Run(ctx) }()
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run after cancel = %v, want nil", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Run did not return after its context ended")
		}
	}
}
