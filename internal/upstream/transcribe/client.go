// Package transcribe turns speech into text through the OpenAI-compatible multipart
// /audio/transcriptions endpoint (Whisper on vLLM, speaches, faster-whisper servers). Wire
// format: research/inference.md section 1.4.
package transcribe

import (
	"bytes"
	"context"
	"fmt"
	"mime/multipart"
	"net/textproto"
	"strings"
	"time"

	"github.com/jetflow-dev/jetflow/internal/failure"
	"github.com/jetflow-dev/jetflow/internal/upstream/modelhttp"
)

// EnvPrefix is the prefix of the variables modelhttp.FromEnv reads for this client (STT_URL...).
const EnvPrefix = "STT"

// Format is the response_format asked for.
type Format string

const (
	// FormatJSON answers {"text"}.
	FormatJSON Format = "json"
	// FormatVerboseJSON adds language, duration and timed segments.
	FormatVerboseJSON Format = "verbose_json"
)

// Request is one piece of audio to transcribe.
type Request struct {
	// PCM is 16-bit little-endian mono audio. Required.
	PCM []byte
	// SampleRate of PCM in Hz (16000 for Whisper). Required.
	SampleRate int
	// Language is the ISO-639-1 code of the speech; empty lets the server detect it.
	Language string
	// Prompt is text the speech is likely to continue (earlier transcript, names).
	Prompt string
	// Format is the response format; zero means FormatJSON.
	Format Format
}

// Segment is a timed piece of the transcript (FormatVerboseJSON only).
type Segment struct {
	Start, End time.Duration
	Text       string
}

// Result is a transcript. Language, Duration and Segments are set with FormatVerboseJSON only.
type Result struct {
	Text     string
	Language string
	Duration time.Duration
	Segments []Segment
}

// Transcriber turns speech into text; *Client is the real one, and the workers' tests use
// fakes.
type Transcriber interface {
	Transcribe(ctx context.Context, req Request) (Result, error)
}

var _ Transcriber = (*Client)(nil)

// LanguageCode returns the ISO-639-1 code transcription servers take for a BCP 47 tag: the
// primary subtag, lower-cased ("de-CH" gives "de"); "" stays "" so the server detects the
// language.
func LanguageCode(tag string) string {
	primary, _, _ := strings.Cut(tag, "-")
	return strings.ToLower(primary)
}

// Client calls one transcription endpoint. It is safe for concurrent use.
type Client struct {
	http *modelhttp.Client
}

// New returns a client for cfg; cfg.BaseURL ends with the "/v1" segment.
func New(cfg modelhttp.Config, opts ...modelhttp.Option) (*Client, error) {
	c, err := modelhttp.New(cfg, opts...)
	if err != nil {
		return nil, fmt.Errorf("creating transcription client: %w", err)
	}
	return &Client{http: c}, nil
}

// Transcribe uploads req.PCM as a WAV file and returns the transcript.
func (c *Client) Transcribe(ctx context.Context, req Request) (Result, error) {
	body, contentType, err := c.form(req)
	if err != nil {
		return Result{}, err
	}
	var res Result
	err = c.http.Call(ctx, modelhttp.Request{Path: "/audio/transcriptions", ContentType: contentType, Accept: "application/json", Body: body},
		func(b []byte) (err error) {
			res, err = decodeTranscription(b)
			return err
		})
	if err != nil {
		return Result{}, fmt.Errorf("transcribing %v of audio: %w", audioLength(req), err)
	}
	return res, nil
}

// form builds the multipart body: file, model, language, prompt, response_format.
func (c *Client) form(req Request) ([]byte, string, error) {
	format := req.Format
	if format == "" {
		format = FormatJSON
	}
	if format != FormatJSON && format != FormatVerboseJSON {
		return nil, "", failure.Invalidf("transcription format %q is not json or verbose_json", format)
	}
	if len(req.PCM) == 0 {
		return nil, "", failure.Invalidf("no audio to transcribe")
	}
	header, err := appendWAVHeader(nil, len(req.PCM), req.SampleRate)
	if err != nil {
		return nil, "", failure.Invalidf("audio to transcribe: %v", err)
	}
	var buf bytes.Buffer
	// Sized up front so the audio is copied once: besides the audio and the prompt, the form's
	// boundaries, part headers and short fields take well under 1 KiB.
	buf.Grow(len(header) + len(req.PCM) + len(req.Prompt) + 1<<10)
	mw := multipart.NewWriter(&buf)
	h := make(textproto.MIMEHeader)
	h.Set("Content-Disposition", `form-data; name="file"; filename="audio.wav"`)
	h.Set("Content-Type", "audio/wav")
	part, err := mw.CreatePart(h)
	if err != nil {
		return nil, "", fmt.Errorf("building transcription form: %w", err)
	}
	// Writes to a bytes.Buffer cannot fail.
	_, _ = part.Write(header)
	_, _ = part.Write(req.PCM)
	fields := []struct{ name, value string }{
		{"model", c.http.Model()},
		{"language", req.Language},
		{"prompt", req.Prompt},
		{"response_format", string(format)},
	}
	for _, f := range fields {
		if f.value == "" {
			continue
		}
		if err := mw.WriteField(f.name, f.value); err != nil {
			return nil, "", fmt.Errorf("building transcription form: %w", err)
		}
	}
	if err := mw.Close(); err != nil {
		return nil, "", fmt.Errorf("building transcription form: %w", err)
	}
	return buf.Bytes(), mw.FormDataContentType(), nil
}

func audioLength(req Request) time.Duration {
	if req.SampleRate <= 0 {
		return 0
	}
	return time.Duration(len(req.PCM)/2) * time.Second / time.Duration(req.SampleRate)
}
