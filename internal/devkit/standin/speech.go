package standin

import (
	"fmt"
	"net/http"
	"strconv"
	"unicode/utf8"

	"github.com/jetflow-dev/jetflow/internal/upstream/transcribe"
)

// maxSpeechInput is OpenAI's limit on the speech endpoint's input, in characters.
const maxSpeechInput = 4096

// speechRequest is OpenAI's speech request with speaches' sample_rate.
type speechRequest struct {
	Model          string   `json:"model"`
	Input          *string  `json:"input"`
	Voice          string   `json:"voice"`
	ResponseFormat string   `json:"response_format"`
	Speed          *float64 `json:"speed"`
	StreamFormat   string   `json:"stream_format"`
	SampleRate     int      `json:"sample_rate"`
}

// speech answers POST /audio/speech with the text encoded by EncodeSpeech. It serves pcm and
// wav only; an absent response_format gives wav (OpenAI's default, mp3, cannot be produced
// here). voice and model may be anything; speed must be in OpenAI's range but changes nothing.
func (s *Server) speech(w http.ResponseWriter, r *http.Request) *statusError {
	var req speechRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	if req.Input == nil || *req.Input == "" {
		return invalid("input is required")
	}
	if n := utf8.RuneCountInString(*req.Input); n > maxSpeechInput {
		return invalid("input has %d characters; the limit is %d", n, maxSpeechInput)
	}
	if req.Speed != nil && (*req.Speed < 0.25 || *req.Speed > 4) {
		return invalid("speed %g is outside [0.25, 4.0]", *req.Speed)
	}
	if req.StreamFormat != "" && req.StreamFormat != "audio" {
		return invalid("stream_format %q is not supported by the stand-in; use audio", req.StreamFormat)
	}
	rate := s.cfg.SampleRate
	if req.SampleRate != 0 {
		if err := CheckSampleRate(req.SampleRate); err != nil {
			return invalid("sample_rate: %v", err)
		}
		rate = req.SampleRate
	}
	pcm := EncodeSpeech(*req.Input, rate)
	var body []byte
	switch req.ResponseFormat {
	case "", "wav":
		wav, err := transcribe.EncodeWAV(pcm, rate)
		if err != nil { // not expected: EncodeSpeech's PCM and rate fit a WAV file
			return &statusError{status: http.StatusInternalServerError, msg: fmt.Sprintf("encoding WAV: %v", err)}
		}
		body = wav
		w.Header().Set("Content-Type", "audio/wav")
	case "pcm":
		body = pcm
		w.Header().Set("Content-Type", "audio/pcm")
	default:
		return invalid("response_format %q is not supported by the stand-in; use pcm or wav", req.ResponseFormat)
	}
	w.Header().Set("X-Jetflow-Sample-Rate", strconv.Itoa(rate))
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
	return nil
}
