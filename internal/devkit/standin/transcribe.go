package standin

import (
	"errors"
	"io"
	"math"
	"net/http"
	"strings"
)

const (
	// maxAudioBody is OpenAI's 25 MB upload limit.
	maxAudioBody = 25 << 20
	maxFormField = 64 << 10
	// DamagedHeader is set to "true" on a transcription when some utterance in the audio was
	// found but cut short or corrupted; the transcript holds only the intact ones.
	DamagedHeader = "X-Jetflow-Stand-In-Damaged"
)

type transcription struct {
	Text  string             `json:"text"`
	Usage transcriptionUsage `json:"usage"`
}

type transcriptionUsage struct {
	Type    string `json:"type"`
	Seconds int    `json:"seconds"`
}

// verboseTranscription is openai-python's TranscriptionVerbose.
type verboseTranscription struct {
	Task     string                 `json:"task"`
	Language string                 `json:"language"`
	Duration float64                `json:"duration"`
	Text     string                 `json:"text"`
	Segments []transcriptionSegment `json:"segments"`
}

type transcriptionSegment struct {
	ID               int     `json:"id"`
	Seek             int     `json:"seek"`
	Start            float64 `json:"start"`
	End              float64 `json:"end"`
	Text             string  `json:"text"`
	Tokens           []int   `json:"tokens"`
	Temperature      float64 `json:"temperature"`
	AvgLogprob       float64 `json:"avg_logprob"`
	CompressionRatio float64 `json:"compression_ratio"`
	NoSpeechProb     float64 `json:"no_speech_prob"`
}

// transcriptionForm is the multipart form of a transcription request.
type transcriptionForm struct {
	file   []byte
	fields map[string]string
}

// readTranscriptionForm streams the multipart body, keeping the file and the small fields.
func readTranscriptionForm(w http.ResponseWriter, r *http.Request) (transcriptionForm, *statusError) {
	form := transcriptionForm{fields: map[string]string{}}
	r.Body = http.MaxBytesReader(w, r.Body, maxAudioBody)
	mr, err := r.MultipartReader()
	if err != nil {
		return form, invalid("want a multipart/form-data body: %v", err)
	}
	haveFile := false
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err == nil {
			if part.FormName() == "file" {
				form.file, err = io.ReadAll(part)
				haveFile = true
			} else {
				var v []byte
				v, err = io.ReadAll(io.LimitReader(part, maxFormField))
				form.fields[part.FormName()] = string(v)
			}
		}
		if _, tooLarge := errors.AsType[*http.MaxBytesError](err); tooLarge {
			return form, &statusError{status: http.StatusRequestEntityTooLarge, msg: "audio upload is larger than 25 MB"}
		}
		if err != nil {
			return form, invalid("reading the multipart body: %v", err)
		}
	}
	if !haveFile {
		return form, invalid("file is required")
	}
	return form, nil
}

// transcribe answers POST /audio/transcriptions by decoding the stand-in speech in a WAV file:
// the intact utterances joined by a space; audio without one gives "". response_format json
// (default), verbose_json (one segment per utterance) and text are served; model, prompt and
// temperature are accepted and ignored.
func (s *Server) transcribe(w http.ResponseWriter, r *http.Request) *statusError {
	form, serr := readTranscriptionForm(w, r)
	if serr != nil {
		return serr
	}
	format := form.fields["response_format"]
	switch format {
	case "":
		format = "json"
	case "json", "verbose_json", "text":
	default:
		return invalid("response_format %q is not supported by the stand-in; use json, verbose_json or text", format)
	}
	pcm, rate, err := parseWAV(form.file)
	if err != nil {
		return invalid("file is not a 16-bit mono PCM WAV: %v", err)
	}
	us, err := DecodeUtterances(pcm, rate)
	if errors.Is(err, ErrDamagedSpeech) {
		w.Header().Set(DamagedHeader, "true")
	} else if err != nil {
		return invalid("file: %v", err)
	}
	duration := float64(len(pcm)/2) / float64(rate)
	var texts []string
	segments := []transcriptionSegment{}
	for _, u := range us {
		if u.Text == "" {
			continue
		}
		texts = append(texts, u.Text)
		segments = append(segments, transcriptionSegment{
			ID: len(segments), Seek: int(u.Start.Milliseconds() / 10),
			Start: u.Start.Seconds(), End: u.End.Seconds(), Text: u.Text, Tokens: []int{},
			CompressionRatio: 1,
		})
	}
	text := strings.Join(texts, " ")
	switch format {
	case "text":
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, text+"\n")
	case "verbose_json":
		lang := form.fields["language"]
		if lang == "" {
			lang = "en"
		}
		writeJSON(w, http.StatusOK, verboseTranscription{Task: "transcribe", Language: lang, Duration: duration, Text: text, Segments: segments})
	default:
		writeJSON(w, http.StatusOK, transcription{Text: text, Usage: transcriptionUsage{Type: "duration", Seconds: int(math.Ceil(duration))}})
	}
	return nil
}
