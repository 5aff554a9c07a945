package health

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestReadyzReflectsChecks(t *testing.T) {
	s := New(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("m 1\n")) }), slog.New(slog.DiscardHandler))
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()

	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := get("/readyz"); code != http.StatusServiceUnavailable {
		t.Fatalf("ready before any check registered: %d", code)
	}
	var consumerErr error
	s.AddCheck("nats", func(context.Context) error { return nil })
	s.AddCheck("consumer chat-retrieve", func(context.Context) error { return consumerErr })
	if code, body := get("/readyz"); code != http.StatusOK {
		t.Fatalf("readyz = %d %s", code, body)
	}
	consumerErr = errors.New("consumer not found")
	code, body := get("/readyz")
	var res readiness
	if err := json.Unmarshal([]byte(body), &res); err != nil {
		t.Fatal(err)
	}
	if code != http.StatusServiceUnavailable || res.Ready || res.Checks["consumer chat-retrieve"] != "consumer not found" {
		t.Fatalf("readyz = %d %+v", code, res)
	}
	if code, _ := get("/healthz"); code != http.StatusOK {
		t.Fatalf("healthz = %d", code)
	}
	if code, body := get("/metrics"); code != http.StatusOK || !strings.Contains(body, "m 1") {
		t.Fatalf("metrics = %d %q", code, body)
	}
}

func TestServeStopsWithContext(t *testing.T) {
	s := New(nil, slog.New(slog.DiscardHandler))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.ServeListener(ctx, ln) }()
	resp, err := http.Get("http://" + ln.Addr().String() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return")
	}
}
