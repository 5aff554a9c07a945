// Package speech turns text into audio through the OpenAI-compatible /audio/speech endpoint
// (speaches, Coqui's OpenAI route, Kokoro servers). The audio is read as it arrives, so a
// worker can forward the first chunks before synthesis ends. Wire format:
// research/inference.md section 1.5.
package speech

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"strings"

	"github.com/jetflow-dev/jetflow/internal/failure"
	"github.com/jetflow-dev/jetflow/internal/upstream/modelhttp"
)

// EnvPrefix is the prefix of the variables modelhttp.FromEnv reads for this client (TTS_URL...).
const EnvPrefix = "TTS"

// Format is the response_format asked for.
type Format string

// The formats OpenAI-compatible servers share. PCM is raw 16-bit little-endian mono without a
// header, at the server's rate (24 kHz for OpenAI and speaches' defaults).
const (
	FormatPCM  Format = "pcm"
	FormatWAV  Format = "wav"
	FormatMP3  Format = "mp3"
	FormatOpus Format = "opus"
	FormatFLAC Format = "flac"
)

// contentTypes is what a format is labelled when the server sends no Content-Type.
var contentTypes = map[Format]string{
	FormatPCM:  "audio/pcm",
	FormatWAV:  "audio/wav",
	FormatMP3:  "audio/mpeg",
	FormatOpus: "audio/ogg",
	FormatFLAC: "audio/flac",
}

// Request is one text to speak.
type Request struct {
	// Input is the text. Required.
	Input string
	// Voice names the server's voice (or speaker id); empty leaves it to the server.
	Voice string
	// Format is the audio format; zero means FormatPCM, the easiest to split and stream.
	Format Format
	// Speed is the speaking rate within [0.25, 4]; zero means the server's default (1.0).
	Speed float64
}

// Chunk is one piece of audio as it was read. Data is only valid during the callback.
type Chunk struct {
	// ContentType of the whole audio, the same for every chunk.
	ContentType string
	// Offset of Data in the audio.
	Offset int64
	Data   []byte
}

// Audio is a whole synthesized file.
type Audio struct {
	ContentType string
	Data        []byte
}

// ErrNoAudio is matched when the server answered 2xx with an empty body. It is permanent.
var ErrNoAudio = errors.New("speech server returned no audio")

// readSize is the buffer each Read fills at most.
const readSize = 32 << 10

type wireRequest struct {
	Model          string  `json:"model,omitempty"`
	Input          string  `json:"input"`
	Voice          string  `json:"voice,omitempty"`
	ResponseFormat Format  `json:"response_format"`
	Speed          float64 `json:"speed,omitempty"`
}

// Client calls one speech endpoint. It is safe for concurrent use.
type Client struct {
	http *modelhttp.Client
}

// New returns a client for cfg; cfg.BaseURL ends with the "/v1" segment. The total audio of one
// call is bounded by modelhttp.WithMaxResponseBytes (default modelhttp.DefaultMaxResponseBytes).
func New(cfg modelhttp.Config, opts ...modelhttp.Option) (*Client, error) {
	c, err := modelhttp.New(cfg, opts...)
	if err != nil {
		return nil, fmt.Errorf("creating speech client: %w", err)
	}
	return &Client{http: c}, nil
}

func (c *Client) body(req Request) ([]byte, Format, error) {
	format := req.Format
	if format == "" {
		format = FormatPCM
	}
	if _, ok := contentTypes[format]; !ok {
		return nil, "", failure.Invalidf("speech format %q is not pcm, wav, mp3, opus or flac", format)
	}
	if strings.TrimSpace(req.Input) == "" {
		return nil, "", failure.Invalidf("no text to speak")
	}
	if req.Speed != 0 && (req.Speed < 0.25 || req.Speed > 4) {
		return nil, "", failure.Invalidf("speech speed %g is outside [0.25, 4]", req.Speed)
	}
	body, err := json.Marshal(wireRequest{
		Model: c.http.Model(), Input: req.Input, Voice: req.Voice, ResponseFormat: format, Speed: req.Speed,
	})
	if err != nil {
		return nil, "", failure.Permanent(fmt.Errorf("encoding speech request: %w", err))
	}
	return body, format, nil
}

// Stream synthesizes req and calls fn with each piece of audio as it is read, and returns the
// content type and the number of bytes. An error from fn stops the call and is returned
// wrapped; cancelling ctx closes the connection at once. Audio longer than the client's limit
// fails permanently with modelhttp.ErrResponseTooLarge after the limit's worth was passed.
func (c *Client) Stream(ctx context.Context, req Request, fn func(Chunk) error) (contentType string, n int64, err error) {
	body, format, err := c.body(req)
	if err != nil {
		return "", 0, err
	}
	resp, err := c.http.Do(ctx, modelhttp.Request{Path: "/audio/speech", ContentType: "application/json", Accept: "audio/*", Body: body})
	if err != nil {
		return "", 0, fmt.Errorf("synthesizing speech: %w", err)
	}
	defer resp.Close()

	contentType = resp.Header.Get("Content-Type")
	if mt, _, _ := mime.ParseMediaType(contentType); mt == "application/json" || strings.HasPrefix(mt, "text/") {
		// A 2xx that is an error object or an SSE stream we did not ask for; it would be
		// played as noise.
		return "", 0, failure.Permanentf("synthesizing speech with %s: answer is %s, not audio", resp.Endpoint(), mt)
	}
	if contentType == "" {
		contentType = contentTypes[format]
	}

	buf := make([]byte, readSize)
	for {
		if err := ctx.Err(); err != nil {
			return contentType, n, fmt.Errorf("synthesizing speech with %s: %w", resp.Endpoint(), err)
		}
		m, rerr := resp.Read(buf)
		if m > 0 {
			if err := fn(Chunk{ContentType: contentType, Offset: n, Data: buf[:m]}); err != nil {
				return contentType, n, fmt.Errorf("handling speech audio: %w", err)
			}
			n += int64(m)
		}
		if errors.Is(rerr, io.EOF) {
			break
		}
		if rerr != nil {
			return contentType, n, fmt.Errorf("synthesizing speech: %w", rerr)
		}
	}
	if n == 0 {
		return contentType, 0, failure.Permanent(fmt.Errorf("synthesizing speech with %s: %w", resp.Endpoint(), ErrNoAudio))
	}
	return contentType, n, nil
}

// Synthesize returns the whole audio of req, read through Stream.
func (c *Client) Synthesize(ctx context.Context, req Request) (Audio, error) {
	var data []byte
	ct, _, err := c.Stream(ctx, req, func(ch Chunk) error {
		data = append(data, ch.Data...)
		return nil
	})
	if err != nil {
		return Audio{}, err
	}
	return Audio{ContentType: ct, Data: data}, nil
}
