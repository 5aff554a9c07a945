package speech

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/internal/failure"
	"github.com/jetflow-dev/jetflow/internal/upstream/modelhttp"
)

// audio is deterministic binary "audio" of n bytes (binary, so net/http does not sniff text).
func audio(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7) | 0x80
	}
	return b
}

// ttsServer is a fake OpenAI speech endpoint under a route prefix that streams audio(size) in
// flushed pieces, labelled with contentType ("" sends no Content-Type at all).
func ttsServer(t *testing.T, size int, contentType string, check func(map[string]any)) *httptest.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /tts/v1/audio/speech", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var req map[string]any
		if err := json.Unmarshal(body, &req); err != nil {
			http.Error(w, "not json", http.StatusBadRequest)
			return
		}
		if check != nil {
			check(req)
		}
		if contentType == "" {
			w.Header()["Content-Type"] = nil // no sniffing either
		} else {
			w.Header().Set("Content-Type", contentType)
		}
		data := audio(size)
		for len(data) > 0 {
			n := min(len(data), 10_000)
			_, _ = w.Write(data[:n])
			w.(http.Flusher).Flush()
			data = data[n:]
		}
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func newClient(t *testing.T, url string, opts ...modelhttp.Option) *Client {
	t.Helper()
	c, err := New(modelhttp.Config{BaseURL: url, Model: "kokoro"}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestStream(t *testing.T) {
	const size = 100_000
	srv := ttsServer(t, size, "audio/pcm", func(req map[string]any) {
		want := map[string]any{"model": "kokoro", "input": "Hello.", "voice": "af_heart", "response_format": "pcm", "speed": 1.25}
		for k, v := range want {
			if req[k] != v {
				t.Errorf("request %s = %v, want %v", k, req[k], v)
			}
		}
	})
	c := newClient(t, srv.URL+"/tts/v1")
	var got []byte
	var chunks int
	ct, n, err := c.Stream(t.Context(), Request{Input: "Hello.", Voice: "af_heart", Speed: 1.25}, func(ch Chunk) error {
		if ch.Offset != int64(len(got)) || ch.ContentType != "audio/pcm" {
			t.Errorf("chunk at %d labelled %q, want offset %d", ch.Offset, ch.ContentType, len(got))
		}
		got = append(got, ch.Data...)
		chunks++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if ct != "audio/pcm" || n != size || !bytes.Equal(got, audio(size)) || chunks < 2 {
		t.Fatalf("got %q, %d bytes in %d chunks", ct, n, chunks)
	}
}

func TestSynthesizeFormats(t *testing.T) {
	tests := []struct {
		name     string
		format   Format
		header   string
		wantType string
	}{
		{name: "wav", format: FormatWAV, header: "audio/wav", wantType: "audio/wav"},
		{name: "mp3", format: FormatMP3, header: "audio/mpeg", wantType: "audio/mpeg"},
		{name: "opus", format: FormatOpus, header: "audio/ogg; codecs=opus", wantType: "audio/ogg; codecs=opus"},
		{name: "flac without a content type", format: FormatFLAC, wantType: "audio/flac"},
		{name: "pcm is the default", header: "application/octet-stream", wantType: "application/octet-stream"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := string(tt.format)
			if want == "" {
				want = "pcm"
			}
			srv := ttsServer(t, 1234, tt.header, func(req map[string]any) {
				if req["response_format"] != want {
					t.Errorf("response_format = %v, want %s", req["response_format"], want)
				}
			})
			got, err := newClient(t, srv.URL+"/tts/v1").Synthesize(t.Context(), Request{Input: "Hi.", Format: tt.format})
			if err != nil {
				t.Fatal(err)
			}
			if got.ContentType != tt.wantType || !bytes.Equal(got.Data, audio(1234)) {
				t.Fatalf("got %q with %d bytes", got.ContentType, len(got.Data))
			}
		})
	}
}

func TestStreamFailures(t *testing.T) {
	valid := Request{Input: "Hello."}
	tests := []struct {
		name      string
		req       Request
		handler   http.HandlerFunc
		opts      []modelhttp.Option
		permanent bool
		invalid   bool
		status    int
		target    error
		wantBytes int64
	}{
		{name: "empty input", req: Request{Input: "  "}, permanent: true, invalid: true},
		{name: "bad speed", req: Request{Input: "a", Speed: 9}, permanent: true, invalid: true},
		{name: "bad format", req: Request{Input: "a", Format: "aiff"}, permanent: true, invalid: true},
		{
			name: "too large", req: valid, opts: []modelhttp.Option{modelhttp.WithMaxResponseBytes(25_000)},
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "audio/pcm")
				for range 5 {
					_, _ = w.Write(audio(10_000))
					w.(http.Flusher).Flush()
				}
			},
			permanent: true, target: modelhttp.ErrResponseTooLarge, wantBytes: 25_000,
		},
		{
			name: "empty body", req: valid, permanent: true, target: ErrNoAudio,
			handler: func(w http.ResponseWriter, r *http.Request) { w.Header().Set("Content-Type", "audio/pcm") },
		},
		{
			name: "json instead of audio", req: valid, permanent: true,
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				_, _ = io.WriteString(w, `{"error":"voice not found"}`)
			},
		},
		{
			name: "unknown voice", req: valid, permanent: true, status: 400,
			handler: func(w http.ResponseWriter, r *http.Request) {
				http.Error(w, `{"error":{"message":"voice not found","code":400}}`, http.StatusBadRequest)
			},
		},
		{
			name: "overloaded", req: valid, status: 503,
			handler: func(w http.ResponseWriter, r *http.Request) { http.Error(w, "busy", http.StatusServiceUnavailable) },
		},
		{
			name: "cut off mid-audio", req: valid, wantBytes: 500,
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "audio/pcm")
				w.Header().Set("Content-Length", "1000")
				_, _ = w.Write(audio(500))
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body)
				if tt.handler == nil {
					t.Error("no request expected")
					return
				}
				tt.handler(w, r)
			}))
			defer srv.Close()
			var passed int64
			_, n, err := newClient(t, srv.URL, tt.opts...).Stream(t.Context(), tt.req, func(ch Chunk) error {
				passed += int64(len(ch.Data))
				return nil
			})
			if err == nil {
				t.Fatal("expected an error")
			}
			if failure.IsPermanent(err) != tt.permanent || errors.Is(err, failure.ErrInvalid) != tt.invalid {
				t.Errorf("err = %v: permanent %v, want %v", err, failure.IsPermanent(err), tt.permanent)
			}
			if tt.target != nil && !errors.Is(err, tt.target) {
				t.Errorf("err = %v, want %v", err, tt.target)
			}
			if se, ok := errors.AsType[*modelhttp.StatusError](err); tt.status != 0 && (!ok || se.StatusCode != tt.status) {
				t.Errorf("err = %v, want status %d", err, tt.status)
			}
			if n != passed || n != tt.wantBytes {
				t.Errorf("%d bytes counted, %d passed; want %d", n, passed, tt.wantBytes)
			}
		})
	}
}

func TestStreamCancelClosesTheConnection(t *testing.T) {
	serverSawCancel := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "audio/pcm")
		_, _ = w.Write(audio(1000))
		w.(http.Flusher).Flush()
		<-r.Context().Done() // still synthesizing when the caller gives up
		close(serverSawCancel)
	}))
	defer srv.Close()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	_, _, err := newClient(t, srv.URL).Stream(ctx, Request{Input: "A long answer."}, func(Chunk) error {
		cancel() // barge-in
		return nil
	})
	if !errors.Is(err, context.Canceled) || failure.IsPermanent(err) {
		t.Fatalf("err = %v, want a wrapped, unmarked context.Canceled", err)
	}
	select {
	case <-serverSawCancel:
	case <-time.After(5 * time.Second):
		t.Fatal("the server never saw the client hang up")
	}
}

func TestStreamCallbackErrorStops(t *testing.T) {
	srv := ttsServer(t, 50_000, "audio/pcm", nil)
	stop := errors.New("publishing chunk")
	calls := 0
	_, _, err := newClient(t, srv.URL+"/tts/v1").Stream(t.Context(), Request{Input: "x"}, func(Chunk) error {
		calls++
		return stop
	})
	if !errors.Is(err, stop) || calls != 1 {
		t.Fatalf("err = %v after %d calls", err, calls)
	}
}
