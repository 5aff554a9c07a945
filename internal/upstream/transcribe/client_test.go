package transcribe

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/internal/failure"
	"github.com/jetflow-dev/jetflow/internal/upstream/modelhttp"
)

// speech is half a second of 16 kHz PCM16 (a ramp; content is irrelevant to the fake).
func speech() []byte {
	pcm := make([]byte, 16000)
	for i := range pcm {
		pcm[i] = byte(i)
	}
	return pcm
}

// whisperServer is a fake OpenAI transcription endpoint under a Ray Serve prefix: it parses the
// multipart form as the real one does, checks the WAV and answers in the asked format.
func whisperServer(t *testing.T, wantPCM []byte) *httptest.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /stt/v1/audio/transcriptions", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer sk-stt" {
			http.Error(w, `{"error":{"message":"unauthorized","code":401}}`, http.StatusUnauthorized)
			return
		}
		if err := r.ParseMultipartForm(1 << 20); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		file, header, err := r.FormFile("file")
		if err != nil {
			http.Error(w, "no file", http.StatusBadRequest)
			return
		}
		defer file.Close()
		wav, _ := io.ReadAll(file)
		pcm, rate, err := parseWAV(wav)
		switch {
		case err != nil:
			t.Errorf("uploaded WAV: %v", err)
		case rate != 16000 || !bytes.Equal(pcm, wantPCM):
			t.Errorf("uploaded WAV has %d Hz, %d bytes", rate, len(pcm))
		case !strings.HasSuffix(header.Filename, ".wav") || header.Header.Get("Content-Type") != "audio/wav":
			t.Errorf("file part %q %v", header.Filename, header.Header)
		}
		if r.FormValue("model") != "whisper-large-v3" || r.FormValue("language") != "en" {
			t.Errorf("form = %v", r.MultipartForm.Value)
		}
		w.Header().Set("Content-Type", "application/json")
		switch r.FormValue("response_format") {
		case "verbose_json":
			_, _ = io.WriteString(w, verboseBody)
		case "json":
			_, _ = io.WriteString(w, `{"text":" Hello there. General Kenobi."}`)
		default:
			http.Error(w, "bad response_format", http.StatusBadRequest)
		}
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func TestTranscribe(t *testing.T) {
	pcm := speech()
	srv := whisperServer(t, pcm)
	c, err := New(modelhttp.Config{BaseURL: srv.URL + "/stt/v1", Model: "whisper-large-v3", APIKey: "sk-stt"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		format Format
		want   func(Result) bool
	}{
		{name: "json is the default", want: func(r Result) bool {
			return r.Text == "Hello there. General Kenobi." && r.Segments == nil
		}},
		{name: "verbose_json", format: FormatVerboseJSON, want: func(r Result) bool {
			return r.Language == "english" && r.Duration == 2500*time.Millisecond && len(r.Segments) == 2 &&
				r.Segments[1].Start == 1200*time.Millisecond && r.Segments[1].Text == "General Kenobi."
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := c.Transcribe(t.Context(), Request{PCM: pcm, SampleRate: 16000, Language: "en", Format: tt.format})
			if err != nil {
				t.Fatal(err)
			}
			if !tt.want(got) {
				t.Fatalf("unexpected result %+v", got)
			}
		})
	}
}

func TestTranscribeFailures(t *testing.T) {
	valid := Request{PCM: speech(), SampleRate: 16000}
	tests := []struct {
		name      string
		req       Request
		handler   http.HandlerFunc
		timeout   time.Duration
		permanent bool
		invalid   bool
		status    int
		timedOut  bool
	}{
		{name: "no audio", req: Request{SampleRate: 16000}, permanent: true, invalid: true},
		{name: "odd pcm", req: Request{PCM: []byte{1, 2, 3}, SampleRate: 16000}, permanent: true, invalid: true},
		{name: "no sample rate", req: Request{PCM: []byte{1, 2}}, permanent: true, invalid: true},
		{name: "text format", req: Request{PCM: []byte{1, 2}, SampleRate: 16000, Format: "srt"}, permanent: true, invalid: true},
		{
			name: "bad request", req: valid, status: 400, permanent: true,
			handler: func(w http.ResponseWriter, r *http.Request) {
				http.Error(w, `{"error":{"message":"Invalid file format","code":400}}`, http.StatusBadRequest)
			},
		},
		{
			name: "no replica", req: valid, status: 503,
			handler: func(w http.ResponseWriter, r *http.Request) {
				http.Error(w, "unavailable", http.StatusServiceUnavailable)
			},
		},
		{
			name: "not json", req: valid, permanent: true,
			handler: func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "Hello there.") },
		},
		{
			name: "json without text", req: valid, permanent: true,
			handler: func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, `{"detail":"ok"}`) },
		},
		{
			name: "slow server", req: valid, timeout: 50 * time.Millisecond, timedOut: true,
			handler: func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() },
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
			c, err := New(modelhttp.Config{BaseURL: srv.URL, Timeout: tt.timeout})
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Transcribe(t.Context(), tt.req)
			if err == nil {
				t.Fatal("expected an error")
			}
			if failure.IsPermanent(err) != tt.permanent || errors.Is(err, failure.ErrInvalid) != tt.invalid ||
				errors.Is(err, modelhttp.ErrTimeout) != tt.timedOut {
				t.Errorf("err = %v: permanent %v (want %v)", err, failure.IsPermanent(err), tt.permanent)
			}
			if se, ok := errors.AsType[*modelhttp.StatusError](err); tt.status != 0 && (!ok || se.StatusCode != tt.status) {
				t.Errorf("err = %v, want status %d", err, tt.status)
			}
		})
	}
}

func TestLanguageCode(t *testing.T) {
	tests := map[string]string{
		"":           "",
		"en":         "en",
		"de-CH":      "de",
		"EN-gb":      "en",
		"zh-Hant-TW": "zh",
		"pt-":        "pt",
		"-US":        "",
	}
	for tag, want := range tests {
		if got := LanguageCode(tag); got != want {
			t.Errorf("LanguageCode(%q) = %q, want %q", tag, got, want)
		}
	}
}
