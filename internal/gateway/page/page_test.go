package page_test

import (
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/jetflow-dev/jetflow/internal/gateway/page"
)

func get(t *testing.T, srv *httptest.Server, method, path string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading %s: %v", path, err)
	}
	return resp, string(body)
}

func TestHandlerServesThePage(t *testing.T) {
	srv := httptest.NewServer(page.Handler())
	t.Cleanup(srv.Close)
	tests := []struct {
		name, path, contentType, contains string
	}{
		{"index at the root", "/", "text/html", `<script src="app.js" defer></script>`},
		{"the protocol script", "/connect.js", "text/javascript", "application/connect+json"},
		{"the page script", "/app.js", "text/javascript", "/jetflow.v1.ChatService/ChatStream"},
		{"the stylesheet", "/style.css", "text/css", ".sources"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := get(t, srv, http.MethodGet, tt.path)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, tt.contentType) {
				t.Errorf("Content-Type %q, want %s", ct, tt.contentType)
			}
			if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "connect-src 'self'") {
				t.Errorf("Content-Security-Policy %q does not keep the page to its own origin", csp)
			}
			if got := resp.Header.Get("X-Content-Type-Options"); got != "nosniff" {
				t.Errorf("X-Content-Type-Options %q", got)
			}
			if !strings.Contains(body, tt.contains) {
				t.Errorf("%s lacks %q", tt.path, tt.contains)
			}
		})
	}
}

func TestHandlerRefuses(t *testing.T) {
	srv := httptest.NewServer(page.Handler())
	t.Cleanup(srv.Close)
	tests := []struct {
		name, method, path string
		status             int
	}{
		{"a file that is not there", http.MethodGet, "/missing.js", http.StatusNotFound},
		{"a service path", http.MethodGet, "/jetflow.v1.ChatService/Chat", http.StatusNotFound},
		{"a post", http.MethodPost, "/", http.StatusMethodNotAllowed},
		{"a climb out of the folder", http.MethodGet, "/../page.go", http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := get(t, srv, tt.method, tt.path)
			if resp.StatusCode != tt.status {
				t.Fatalf("%s %s: status %d, want %d: %s", tt.method, tt.path, resp.StatusCode, tt.status, body)
			}
		})
	}
}

// externalReference finds what would make the browser load something from another origin: a
// URL with a scheme or a protocol-relative one in an attribute, url() or import.
var externalReference = regexp.MustCompile(`(?i)(src|href|url\(|@import|fetch\()\s*=?\s*["']?\s*(https?:)?//`)

// The page loads nothing from another origin: no CDN, no web fonts, no analytics.
func TestNoExternalAssets(t *testing.T) {
	files := os.DirFS("static")
	err := fs.WalkDir(files, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(files, path)
		if err != nil {
			return err
		}
		if m := externalReference.Find(data); m != nil {
			t.Errorf("%s refers to another origin: %q", path, m)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
