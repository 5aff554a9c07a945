package standin

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// fuzzRoute feeds arbitrary bodies to one route through the real handler and checks that the
// server never panics, never blames itself (5xx) for a client's bad input, and that every JSON
// answer is valid JSON.
func fuzzRoute(f *testing.F, path, contentType string, seeds ...string) {
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	s, err := New(Config{MaxBatch: 4}, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
		req.Header.Set("Content-Type", contentType)
		s.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("status %d for %q: %s", rec.Code, body, rec.Body)
		}
		ct := rec.Header().Get("Content-Type")
		if strings.HasPrefix(ct, "application/json") && !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("invalid JSON answer %q", rec.Body)
		}
		if rec.Code == http.StatusOK && strings.HasPrefix(ct, "text/event-stream") && !strings.HasSuffix(rec.Body.String(), "data: [DONE]\n\n") {
			t.Fatalf("stream does not end with [DONE]: %q", rec.Body)
		}
	})
}

func FuzzChatRequest(f *testing.F) {
	fuzzRoute(f, "/v1/chat/completions", "application/json",
		chatBody,
		`{"messages":[{"role":"system","content":"[source 1] a. b"},{"role":"user","content":[{"type":"text","text":"q"}]}],"stream":true,"stream_options":{"include_usage":true,"continuous_usage_stats":true}}`,
		`{"messages":[{"role":"user","content":"[source 99999999999] x"}],"max_tokens":2}`,
		`{"messages":[{"role":"assistant","content":null}],"n":1,"max_completion_tokens":-1}`,
		`{"messages":"nope"}`, `[]`, `null`, ``)
}

func FuzzOpenAIEmbeddingsRequest(f *testing.F) {
	fuzzRoute(f, "/v1/embeddings", "application/json",
		`{"input":"hello"}`, `{"input":["a","b"],"encoding_format":"base64","dimensions":3}`,
		`{"input":[[1,2]]}`, `{"input":[]}`, `{"input":"x","dimensions":99999}`, `{}`)
}

func FuzzTEIEmbedRequest(f *testing.F) {
	fuzzRoute(f, "/embed", "application/json",
		`{"inputs":"hello"}`, `{"inputs":["a","b"],"normalize":false,"truncate":true}`,
		`{"inputs":["a","b","c","d","e"]}`, `{"inputs":[]}`, `{"inputs":""}`, `{"inputs":null}`)
}

func FuzzTEIRerankRequest(f *testing.F) {
	fuzzRoute(f, "/rerank", "application/json",
		`{"query":"capital of France","texts":["Paris is","Berlin"],"return_text":true}`,
		`{"query":"","texts":[""]}`, `{"texts":["a"]}`, `{"query":"q","texts":[]}`)
}

func FuzzCohereRerankRequest(f *testing.F) {
	fuzzRoute(f, "/v1/rerank", "application/json",
		`{"model":"m","query":"q","documents":["a",{"text":"b"}],"top_n":1,"return_documents":false}`,
		`{"query":"q","documents":[1]}`, `{"query":"q","documents":["a"],"top_n":-3}`)
}

func FuzzSpeechRequest(f *testing.F) {
	fuzzRoute(f, "/v1/audio/speech", "application/json",
		`{"model":"tts-1","input":"hello","voice":"alloy","response_format":"pcm"}`,
		`{"input":"café","response_format":"wav","sample_rate":8000,"speed":1.5}`,
		`{"input":"x","response_format":"mp3"}`, `{"input":"x","sample_rate":-1}`, `{"input":""}`)
}

// transcriptionBoundary is the multipart boundary of the fuzzed transcription bodies.
const transcriptionBoundary = "jetflowfuzzboundary"

func multipartSeed(fields map[string]string, wav []byte) string {
	var b strings.Builder
	for k, v := range fields {
		b.WriteString("--" + transcriptionBoundary + "\r\nContent-Disposition: form-data; name=\"" + k + "\"\r\n\r\n" + v + "\r\n")
	}
	if wav != nil {
		b.WriteString("--" + transcriptionBoundary + "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.wav\"\r\nContent-Type: audio/wav\r\n\r\n")
		b.Write(wav)
		b.WriteString("\r\n")
	}
	b.WriteString("--" + transcriptionBoundary + "--\r\n")
	return b.String()
}

func FuzzTranscriptionRequest(f *testing.F) {
	wav := wavFile(EncodeSpeech("hi", 8000), 8000)
	fuzzRoute(f, "/v1/audio/transcriptions", "multipart/form-data; boundary="+transcriptionBoundary,
		multipartSeed(map[string]string{"model": "whisper-1", "response_format": "verbose_json"}, wav),
		multipartSeed(map[string]string{"response_format": "text"}, wav[:60]),
		multipartSeed(map[string]string{"model": "m"}, nil),
		multipartSeed(nil, []byte("RIFF\x00\x00\x00\x00WAVE")),
		"--"+transcriptionBoundary)
}

func FuzzParseWAV(f *testing.F) {
	f.Add(wavFile(EncodeSpeech("a", 8000), 8000))
	f.Add(stereoWAV())
	f.Add([]byte("RIFF\x00\x00\x00\x00WAVEfmt \x10\x00\x00\x00"))
	f.Add([]byte("RIFF\x00\x00\x00\x00WAVELIST\xff\xff\xff\xff"))
	f.Fuzz(func(t *testing.T, b []byte) {
		pcm, _, err := parseWAV(b)
		if err == nil && len(pcm)%2 != 0 {
			t.Fatalf("odd PCM length %d", len(pcm))
		}
	})
}

func FuzzParseSources(f *testing.F) {
	f.Add("[source 1] a. b\n[SOURCE 2]: c")
	f.Add("[source 123456789012] x")
	f.Add("[source")
	f.Fuzz(func(t *testing.T, content string) {
		for _, s := range parseSources(content) {
			if s.n < 0 || strings.ContainsAny(s.text, "\n") {
				t.Fatalf("source %+v from %q", s, content)
			}
		}
		answer := composeAnswer([]promptMessage{{role: "user", text: content}})
		if answer == "" {
			t.Fatal("empty answer")
		}
	})
}
