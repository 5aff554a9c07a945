package modelhttp

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/internal/failure"
)

func newTestClient(t *testing.T, url string, cfg Config, opts ...Option) *Client {
	t.Helper()
	cfg.BaseURL = url + cfg.BaseURL
	c, err := New(cfg, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func decodeInto(v any) func([]byte) error {
	return func(b []byte) error { return json.Unmarshal(b, v) }
}

func TestPostJSONClassification(t *testing.T) {
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name       string
		status     int
		header     map[string]string
		body       string
		permanent  bool
		delay      time.Duration
		hasDelay   bool
		wantStatus int // 0: no StatusError expected
		wantErr    bool
	}{
		{name: "ok", status: 200, body: `{"ok":true}`},
		{name: "bad request", status: 400, body: `{"error":"nope"}`, permanent: true, wantStatus: 400, wantErr: true},
		{name: "unauthorized", status: 401, permanent: true, wantStatus: 401, wantErr: true},
		{name: "not found", status: 404, permanent: true, wantStatus: 404, wantErr: true},
		{name: "unprocessable", status: 422, permanent: true, wantStatus: 422, wantErr: true},
		{name: "request timeout", status: 408, wantStatus: 408, wantErr: true},
		{name: "too early", status: 425, wantStatus: 425, wantErr: true},
		{name: "429 seconds", status: 429, header: map[string]string{"Retry-After": "12"}, delay: 12 * time.Second, hasDelay: true, wantStatus: 429, wantErr: true},
		{name: "429 date", status: 429, header: map[string]string{"Retry-After": "Sat, 28 Nov 2026 12:01:00 GMT"}, delay: time.Minute, hasDelay: true, wantStatus: 429, wantErr: true},
		{name: "429 bare", status: 429, wantStatus: 429, wantErr: true},
		{name: "internal error", status: 500, wantStatus: 500, wantErr: true},
		{name: "503 retry after", status: 503, header: map[string]string{"Retry-After": "2"}, delay: 2 * time.Second, hasDelay: true, wantStatus: 503, wantErr: true},
		{name: "redirect without location", status: 300, permanent: true, wantStatus: 300, wantErr: true},
		{name: "2xx not json", status: 200, body: `<html>gateway</html>`, permanent: true, wantErr: true},
		{name: "2xx empty", status: 204, permanent: true, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				for k, v := range tt.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(tt.status)
				_, _ = w.Write([]byte(tt.body))
			}))
			defer srv.Close()
			c := newTestClient(t, srv.URL, Config{BaseURL: "/v1"}, withClock(func() time.Time { return now }))
			var out map[string]any
			err := c.PostJSON(t.Context(), "/x", map[string]string{"a": "b"}, decodeInto(&out))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if got := failure.IsPermanent(err); got != tt.permanent {
				t.Errorf("IsPermanent = %v, want %v (%v)", got, tt.permanent, err)
			}
			d, ok := failure.RetryDelay(err)
			if d != tt.delay || ok != tt.hasDelay {
				t.Errorf("RetryDelay = %v, %v; want %v, %v", d, ok, tt.delay, tt.hasDelay)
			}
			se, isStatus := errors.AsType[*StatusError](err)
			switch {
			case tt.wantStatus == 0 && isStatus:
				t.Errorf("unexpected StatusError %v", se)
			case tt.wantStatus != 0 && !isStatus:
				t.Errorf("error %v is not a StatusError", err)
			case isStatus && se.StatusCode != tt.wantStatus:
				t.Errorf("StatusCode = %d, want %d", se.StatusCode, tt.wantStatus)
			}
		})
	}
}

func TestRouteThroughPrefixAndBearer(t *testing.T) {
	var gotPath, gotAuth, gotType string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotPath, gotAuth, gotType = r.URL.Path, r.Header.Get("Authorization"), r.Header.Get("Content-Type")
		_, _ = w.Write([]byte(`{}`))
	}))
	defer srv.Close()
	c := newTestClient(t, srv.URL, Config{BaseURL: "/llm/v1/", APIKey: "sk-test"})
	if err := c.PostJSON(t.Context(), "/chat/completions", struct{}{}, decodeInto(new(map[string]any))); err != nil {
		t.Fatal(err)
	}
	if gotPath != "/llm/v1/chat/completions" {
		t.Errorf("path = %q", gotPath)
	}
	if gotAuth != "Bearer sk-test" {
		t.Errorf("Authorization = %q", gotAuth)
	}
	if gotType != "application/json" {
		t.Errorf("Content-Type = %q", gotType)
	}
}

func TestErrorsNeverCarryTheKey(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// A careless server that echoes the header it rejected.
		http.Error(w, "bad credentials: "+r.Header.Get("Authorization"), http.StatusUnauthorized)
	}))
	defer srv.Close()
	c := newTestClient(t, srv.URL, Config{BaseURL: "/v1", APIKey: "sk-very-secret"})
	err := c.PostJSON(t.Context(), "/embeddings", struct{}{}, decodeInto(new(any)))
	if err == nil {
		t.Fatal("expected an error")
	}
	if strings.Contains(err.Error(), "sk-very-secret") {
		t.Fatalf("error leaks the key: %v", err)
	}
	if !strings.Contains(err.Error(), "[REDACTED]") {
		t.Fatalf("error lost the body: %v", err)
	}
}

func TestStatusErrorBodyIsTruncated(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(strings.Repeat("e", 5000)))
	}))
	defer srv.Close()
	c := newTestClient(t, srv.URL, Config{})
	err := c.PostJSON(t.Context(), "/rerank", struct{}{}, decodeInto(new(any)))
	se, ok := errors.AsType[*StatusError](err)
	if !ok {
		t.Fatalf("err = %v, want a StatusError", err)
	}
	if len(se.Body) != MaxErrorBody {
		t.Fatalf("body has %d bytes, want %d", len(se.Body), MaxErrorBody)
	}
	if se.Endpoint != "POST "+srv.URL+"/rerank" {
		t.Fatalf("Endpoint = %q", se.Endpoint)
	}
}

// slowServer answers nothing until the client hangs up, and reports each request it started.
func slowServer(t *testing.T) (*httptest.Server, <-chan struct{}) {
	t.Helper()
	started := make(chan struct{}, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Reading the body to its end lets the server notice the client hanging up.
		_, _ = io.Copy(io.Discard, r.Body)
		started <- struct{}{}
		<-r.Context().Done()
	}))
	t.Cleanup(srv.Close)
	return srv, started
}

func TestTimeouts(t *testing.T) {
	srv, started := slowServer(t)

	t.Run("per-call timeout is retryable", func(t *testing.T) {
		c := newTestClient(t, srv.URL, Config{Timeout: 50 * time.Millisecond})
		err := c.PostJSON(t.Context(), "/x", struct{}{}, decodeInto(new(any)))
		if !errors.Is(err, ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want ErrTimeout and DeadlineExceeded", err)
		}
		if failure.IsPermanent(err) {
			t.Fatal("a timeout must be retryable")
		}
		<-started
	})
	t.Run("caller deadline wins over the config timeout", func(t *testing.T) {
		c := newTestClient(t, srv.URL, Config{Timeout: time.Hour})
		ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
		defer cancel()
		err := c.PostJSON(ctx, "/x", struct{}{}, decodeInto(new(any)))
		if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrTimeout) {
			t.Fatalf("err = %v, want the caller's DeadlineExceeded only", err)
		}
		<-started
	})
	t.Run("caller cancellation is returned as such", func(t *testing.T) {
		c := newTestClient(t, srv.URL, Config{Timeout: time.Hour})
		ctx, cancel := context.WithCancel(t.Context())
		errc := make(chan error, 1)
		go func() { errc <- c.PostJSON(ctx, "/x", struct{}{}, decodeInto(new(any))) }()
		<-started // the request is in flight
		cancel()
		err := <-errc
		if !errors.Is(err, context.Canceled) || failure.IsPermanent(err) || errors.Is(err, ErrTimeout) {
			t.Fatalf("err = %v, want a wrapped, unmarked context.Canceled", err)
		}
	})
}

func TestTransportErrorsAreRetryable(t *testing.T) {
	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := closed.URL
	closed.Close()

	reset := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			_ = conn.(*net.TCPConn).SetLinger(0) // RST instead of FIN
			_ = conn.Close()
		}
	}))
	defer reset.Close()

	cutBody := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100")
		_, _ = w.Write([]byte(`{"data":[`))
	}))
	defer cutBody.Close()

	dnsFail := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return nil, &net.DNSError{Err: "no such host", Name: "tei.invalid", IsNotFound: true}
		},
	}}

	tests := []struct {
		name string
		url  string
		opts []Option
	}{
		{name: "connection refused", url: closedURL},
		{name: "connection reset", url: reset.URL},
		{name: "body cut off", url: cutBody.URL},
		{name: "dns failure", url: "http://tei.invalid", opts: []Option{WithHTTPClient(dnsFail)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newTestClient(t, tt.url, Config{Timeout: 5 * time.Second}, tt.opts...)
			err := c.PostJSON(t.Context(), "/x", struct{}{}, decodeInto(new(any)))
			if err == nil {
				t.Fatal("expected an error")
			}
			if failure.IsPermanent(err) {
				t.Fatalf("%v must be retryable", err)
			}
			if _, ok := errors.AsType[*StatusError](err); ok {
				t.Fatalf("%v is not a status error", err)
			}
		})
	}
}

func TestResponseTooLargeIsPermanent(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`["` + strings.Repeat("a", 200) + `"]`))
	}))
	defer srv.Close()
	c := newTestClient(t, srv.URL, Config{}, WithMaxResponseBytes(100))
	err := c.PostJSON(t.Context(), "/x", struct{}{}, decodeInto(new(any)))
	if !errors.Is(err, ErrResponseTooLarge) || !failure.IsPermanent(err) {
		t.Fatalf("err = %v, want permanent ErrResponseTooLarge", err)
	}
}

func TestReadStopsAtTheLimit(t *testing.T) {
	const limit = 100
	tests := []struct {
		name     string
		bodySize int
		tooLarge bool
	}{
		{name: "under the limit", bodySize: limit - 1},
		{name: "exactly the limit", bodySize: limit},
		{name: "one byte over", bodySize: limit + 1, tooLarge: true},
		{name: "far over", bodySize: 10 * limit, tooLarge: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				// Written in pieces and flushed, as a stream arrives.
				for sent := 0; sent < tt.bodySize; sent += 30 {
					_, _ = w.Write([]byte(strings.Repeat("a", min(30, tt.bodySize-sent))))
					w.(http.Flusher).Flush()
				}
			}))
			defer srv.Close()
			c := newTestClient(t, srv.URL, Config{}, WithMaxResponseBytes(limit))
			resp, err := c.Do(t.Context(), Request{Path: "/stream"})
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Close()

			var got int
			buf := make([]byte, 64)
			for {
				n, err := resp.Read(buf)
				got += n
				if errors.Is(err, io.EOF) {
					if tt.tooLarge {
						t.Fatalf("read %d bytes to EOF, want ErrResponseTooLarge", got)
					}
					break
				}
				if err != nil {
					if !tt.tooLarge || !errors.Is(err, ErrResponseTooLarge) || !failure.IsPermanent(err) ||
						!strings.Contains(err.Error(), resp.Endpoint()) {
						t.Fatalf("err = %v, want a permanent ErrResponseTooLarge naming %s", err, resp.Endpoint())
					}
					break
				}
			}
			if want := min(tt.bodySize, limit); got != want {
				t.Fatalf("read %d bytes, want %d", got, want)
			}
		})
	}
}

func TestReadAllTakesABodyOfExactlyTheLimit(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`"` + strings.Repeat("a", 98) + `"`))
	}))
	defer srv.Close()
	c := newTestClient(t, srv.URL, Config{}, WithMaxResponseBytes(100))
	var got string
	if err := c.PostJSON(t.Context(), "/x", struct{}{}, decodeInto(&got)); err != nil || len(got) != 98 {
		t.Fatalf("decoded %d characters, %v; want 98", len(got), err)
	}
}

func TestInvalidOptions(t *testing.T) {
	tests := []struct {
		name string
		opt  Option
	}{
		{name: "nil http client", opt: WithHTTPClient(nil)},
		{name: "zero max bytes", opt: WithMaxResponseBytes(0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := New(Config{BaseURL: "http://x/v1"}, tt.opt); !errors.Is(err, ErrInvalidOption) {
				t.Fatalf("err = %v, want ErrInvalidOption", err)
			}
		})
	}
}
