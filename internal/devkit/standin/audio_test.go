package standin

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"mime/multipart"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/internal/upstream/transcribe"
)

// wavFile is transcribe.EncodeWAV for audio the test built to fit a WAV file; it panics
// otherwise, as that is a mistake in the test.
func wavFile(pcm []byte, sampleRate int) []byte {
	b, err := transcribe.EncodeWAV(pcm, sampleRate)
	if err != nil {
		panic(fmt.Sprintf("test audio does not fit a WAV file: %v", err))
	}
	return b
}

// speak calls the speech endpoint as an OpenAI client does and returns the body and content type.
func speak(t *testing.T, url string, req map[string]any) ([]byte, *http.Response) {
	t.Helper()
	resp := post(t, url+"/v1/audio/speech", req)
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("speech: status %d: %s", resp.StatusCode, body)
	}
	return body, resp
}

// transcriptionBody builds the multipart form an OpenAI client sends.
func transcriptionBody(t *testing.T, wav []byte, fields map[string]string) (string, []byte) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	fw, err := mw.CreateFormFile("file", "segment.wav")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fw.Write(wav); err != nil {
		t.Fatal(err)
	}
	for k, v := range fields {
		if err := mw.WriteField(k, v); err != nil {
			t.Fatal(err)
		}
	}
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	return mw.FormDataContentType(), buf.Bytes()
}

func transcribeRaw(t *testing.T, url string, wav []byte, fields map[string]string) *http.Response {
	t.Helper()
	ct, body := transcriptionBody(t, wav, fields)
	resp, err := http.Post(url+"/v1/audio/transcriptions", ct, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

type clientTranscription struct {
	Text     string  `json:"text"`
	Language string  `json:"language"`
	Duration float64 `json:"duration"`
	Segments []struct {
		ID    int     `json:"id"`
		Start float64 `json:"start"`
		End   float64 `json:"end"`
		Text  string  `json:"text"`
	} `json:"segments"`
}

func TestSpeechThenTranscriptionOverHTTP(t *testing.T) {
	ts, _ := serve(t, Config{})
	rng := rand.New(rand.NewPCG(5, 6))
	for i, text := range randomSentences(rng, 10) {
		t.Run(strconv.Itoa(i), func(t *testing.T) {
			format := []string{"wav", "pcm", ""}[i%3]
			audio, resp := speak(t, ts.URL, map[string]any{"model": "tts-1", "input": text, "voice": "alloy", "response_format": format})
			if resp.Header.Get(StandInHeader) != "true" || resp.Header.Get("X-Jetflow-Sample-Rate") != "16000" {
				t.Errorf("headers = %v", resp.Header)
			}
			wav := audio
			if format == "pcm" {
				if resp.Header.Get("Content-Type") != "audio/pcm" || !bytes.Equal(audio, EncodeSpeech(text, 16000)) {
					t.Fatalf("pcm answer is not EncodeSpeech's output")
				}
				wav = wavFile(audio, 16000)
			} else if resp.Header.Get("Content-Type") != "audio/wav" || len(audio) < transcribe.WAVHeaderSize || string(audio[:4]) != "RIFF" {
				t.Fatalf("wav answer: content type %q, %d bytes", resp.Header.Get("Content-Type"), len(audio))
			}
			got := decodeAs[clientTranscription](t, transcribeRaw(t, ts.URL, rechunk(rng, wav), map[string]string{"model": "whisper-1"}), http.StatusOK)
			if got.Text != text {
				t.Errorf("transcribed %q, want %q", got.Text, text)
			}
		})
	}
}

func TestSpeechSampleRate(t *testing.T) {
	ts, _ := serve(t, Config{SampleRate: 24000})
	audio, resp := speak(t, ts.URL, map[string]any{"input": "hello", "response_format": "wav"})
	pcm, rate, err := parseWAV(audio)
	if err != nil || rate != 24000 || resp.Header.Get("X-Jetflow-Sample-Rate") != "24000" {
		t.Fatalf("rate %d, %v", rate, err)
	}
	if got, err := DecodeSpeech(pcm, rate); err != nil || len(got) != 1 || got[0] != "hello" {
		t.Errorf("decoded %q, %v", got, err)
	}
	audio, _ = speak(t, ts.URL, map[string]any{"input": "hi", "response_format": "wav", "sample_rate": 8000})
	if _, rate, _ := parseWAV(audio); rate != 8000 {
		t.Errorf("sample_rate 8000 gave %d", rate)
	}
}

func TestSpeechRejects(t *testing.T) {
	ts, _ := serve(t, Config{})
	for name, body := range map[string]any{
		"no input":      map[string]any{"model": "tts-1", "voice": "alloy"},
		"empty input":   map[string]any{"input": ""},
		"too long":      map[string]any{"input": strings.Repeat("é", maxSpeechInput+1)},
		"mp3":           map[string]any{"input": "x", "response_format": "mp3"},
		"sse":           map[string]any{"input": "x", "stream_format": "sse"},
		"speed":         map[string]any{"input": "x", "speed": 5},
		"sample rate":   map[string]any{"input": "x", "sample_rate": 1234},
		"not an object": "[]",
	} {
		t.Run(name, func(t *testing.T) {
			decodeAs[vllmError](t, post(t, ts.URL+"/v1/audio/speech", body), http.StatusBadRequest)
		})
	}
}

func TestTranscriptionFormats(t *testing.T) {
	ts, _ := serve(t, Config{})
	const rate = 16000
	pcm := slices.Concat(EncodeSpeech("First, one.", rate), silence(rate, 500*time.Millisecond), EncodeSpeech("Then café 2.", rate))
	wav := wavFile(pcm, rate)

	t.Run("json", func(t *testing.T) {
		got := decodeAs[clientTranscription](t, transcribeRaw(t, ts.URL, wav, nil), http.StatusOK)
		if got.Text != "First, one. Then café 2." {
			t.Errorf("text = %q", got.Text)
		}
	})
	t.Run("verbose_json", func(t *testing.T) {
		got := decodeAs[clientTranscription](t, transcribeRaw(t, ts.URL, wav, map[string]string{"response_format": "verbose_json", "language": "fr"}), http.StatusOK)
		if got.Text != "First, one. Then café 2." || got.Language != "fr" || len(got.Segments) != 2 {
			t.Fatalf("answer = %+v", got)
		}
		first, second := got.Segments[0], got.Segments[1]
		if first.Text != "First, one." || second.Text != "Then café 2." || second.ID != 1 {
			t.Errorf("segments = %+v", got.Segments)
		}
		if d := first.Start - 0.3; d < -0.001 || d > 0.001 {
			t.Errorf("first segment starts at %v, want 0.3", first.Start)
		}
		if gap := second.Start - first.End; gap < 1.099 || gap > 1.101 { // 300 + 500 + 300 ms
			t.Errorf("gap = %v, want 1.1 s", gap)
		}
		if want := float64(len(pcm)/2) / rate; got.Duration != want || second.End > want {
			t.Errorf("duration %v, want %v", got.Duration, want)
		}
	})
	t.Run("text", func(t *testing.T) {
		resp := transcribeRaw(t, ts.URL, wav, map[string]string{"response_format": "text"})
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK || string(body) != "First, one. Then café 2.\n" {
			t.Errorf("status %d, body %q", resp.StatusCode, body)
		}
	})
	t.Run("no speech", func(t *testing.T) {
		got := decodeAs[clientTranscription](t, transcribeRaw(t, ts.URL, wavFile(silence(rate, time.Second), rate), nil), http.StatusOK)
		if got.Text != "" {
			t.Errorf("text = %q", got.Text)
		}
	})
	t.Run("damaged", func(t *testing.T) {
		cut := EncodeSpeech("cut off in the middle of the sentence", rate)
		resp := transcribeRaw(t, ts.URL, wavFile(slices.Concat(EncodeSpeech("whole", rate), cut[:len(cut)/2]), rate), nil)
		if got := decodeAs[clientTranscription](t, resp, http.StatusOK); got.Text != "whole" || resp.Header.Get(DamagedHeader) != "true" {
			t.Errorf("text %q, damaged header %q", got.Text, resp.Header.Get(DamagedHeader))
		}
	})
}

func TestTranscriptionRejects(t *testing.T) {
	ts, _ := serve(t, Config{})
	good := wavFile(EncodeSpeech("x", 16000), 16000)
	tests := []struct {
		name   string
		wav    []byte
		fields map[string]string
	}{
		{"not a wav", []byte("ID3 mp3 data"), nil},
		{"stereo", stereoWAV(), nil},
		{"odd sample rate", wavFile(make([]byte, 100), 11025), nil},
		{"srt", good, map[string]string{"response_format": "srt"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			decodeAs[vllmError](t, transcribeRaw(t, ts.URL, tt.wav, tt.fields), http.StatusBadRequest)
		})
	}
	t.Run("no file", func(t *testing.T) {
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		if err := mw.WriteField("model", "whisper-1"); err != nil {
			t.Fatal(err)
		}
		if err := mw.Close(); err != nil {
			t.Fatal(err)
		}
		resp, err := http.Post(ts.URL+"/v1/audio/transcriptions", mw.FormDataContentType(), &buf)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		decodeAs[vllmError](t, resp, http.StatusBadRequest)
	})
	t.Run("not multipart", func(t *testing.T) {
		decodeAs[vllmError](t, post(t, ts.URL+"/v1/audio/transcriptions", `{"file":"x"}`), http.StatusBadRequest)
	})
}

// stereoWAV is a valid 16-bit stereo WAV, which the stand-in does not take.
func stereoWAV() []byte {
	b := wavFile(make([]byte, 400), 16000)
	binary.LittleEndian.PutUint16(b[22:], 2)
	return b
}

func TestParseWAV(t *testing.T) {
	pcm := EncodeSpeech("wav", 8000)
	extensible := func() []byte {
		var b []byte
		b = append(b, "RIFF\x00\x00\x00\x00WAVEfmt "...)
		b = binary.LittleEndian.AppendUint32(b, 40)
		b = binary.LittleEndian.AppendUint16(b, 0xfffe)
		b = binary.LittleEndian.AppendUint16(b, 1)
		b = binary.LittleEndian.AppendUint32(b, 8000)
		b = binary.LittleEndian.AppendUint32(b, 16000)
		b = binary.LittleEndian.AppendUint16(b, 2)
		b = binary.LittleEndian.AppendUint16(b, 16)
		b = binary.LittleEndian.AppendUint16(b, 22)
		b = binary.LittleEndian.AppendUint16(b, 16)
		b = binary.LittleEndian.AppendUint32(b, 4)
		b = append(b, "\x01\x00\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"...)
		b = append(b, "data"...)
		b = binary.LittleEndian.AppendUint32(b, uint32(len(pcm)))
		return append(b, pcm...)
	}
	withList := func() []byte {
		plain := wavFile(pcm, 8000)
		list := []byte("LIST\x03\x00\x00\x00abc\x00") // odd size, padded
		return slices.Concat(plain[:36], list, plain[36:])
	}
	streaming := func() []byte {
		b := wavFile(pcm, 8000)
		binary.LittleEndian.PutUint32(b[40:], 0xffffffff)
		return b
	}
	tests := []struct {
		name    string
		in      []byte
		wantErr bool
	}{
		{"plain", wavFile(pcm, 8000), false},
		{"extensible", extensible(), false},
		{"list chunk first", withList(), false},
		{"streaming size", streaming(), false},
		{"truncated header", wavFile(pcm, 8000)[:30], true},
		{"not riff", []byte("RIFX....WAVE"), true},
		{"stereo", stereoWAV(), true},
		{"data before fmt", []byte("RIFF\x00\x00\x00\x00WAVEdata\x02\x00\x00\x00\x01\x00"), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, rate, err := parseWAV(tt.in)
			if tt.wantErr {
				if err == nil {
					t.Errorf("want an error")
				}
				return
			}
			if err != nil || rate != 8000 || !bytes.Equal(got, pcm) {
				t.Errorf("rate %d, %d bytes, %v", rate, len(got), err)
			}
		})
	}
}
