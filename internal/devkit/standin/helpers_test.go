package standin

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/internal/devkit/jstest"
)

// serve starts a stand-in on an httptest server.
func serve(t *testing.T, cfg Config) (*httptest.Server, *Server) {
	t.Helper()
	s, err := New(cfg, slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	return ts, s
}

// post sends body (marshalled unless it is a string or []byte) and returns the response, closed
// at cleanup.
func post(t *testing.T, url string, body any) *http.Response {
	t.Helper()
	var b []byte
	switch v := body.(type) {
	case string:
		b = []byte(v)
	case []byte:
		b = v
	default:
		var err error
		if b, err = json.Marshal(v); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := http.Post(url, "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// decodeAs reads a JSON body as a client would, failing on a status other than want.
func decodeAs[T any](t *testing.T, resp *http.Response, want int) T {
	t.Helper()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != want {
		t.Fatalf("status %d, want %d; body %s", resp.StatusCode, want, body)
	}
	if resp.Header.Get(StandInHeader) != "true" {
		t.Errorf("response lacks %s: true", StandInHeader)
	}
	var v T
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("decoding %s: %v", body, err)
	}
	return v
}

// vllmError is the error body a vLLM client decodes.
type vllmError struct {
	Error struct {
		Message string `json:"message"`
		Type    string `json:"type"`
		Code    int    `json:"code"`
	} `json:"error"`
}

// teiErrorBody is the error body a TEI client decodes.
type teiErrorBody struct {
	Error     string `json:"error"`
	ErrorType string `json:"error_type"`
}

// waitIdle polls until the server has no request in flight: a handler that honours cancellation
// returns promptly after its client left.
func waitIdle(t *testing.T, s *Server) {
	t.Helper()
	jstest.Eventually(t, 3*time.Second, 5*time.Millisecond, func() error {
		if n := s.Stats().InFlight; n != 0 {
			return fmt.Errorf("%d request(s) still in flight after the client left", n)
		}
		return nil
	})
}
