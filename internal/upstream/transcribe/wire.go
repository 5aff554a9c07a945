package transcribe

import (
	"encoding/json"
	"errors"
	"math"
	"strings"
	"time"
)

// wireTranscription covers both "json" ({"text"}) and "verbose_json" (openai-python's
// TranscriptionVerbose, which speaches and vLLM return); the extra fields are simply absent
// in "json".
type wireTranscription struct {
	Text     *string `json:"text"`
	Language string  `json:"language"`
	Duration float64 `json:"duration"`
	Segments []struct {
		Start float64 `json:"start"`
		End   float64 `json:"end"`
		Text  string  `json:"text"`
	} `json:"segments"`
}

var errNoText = errors.New(`transcription has no "text"`)

// decodeTranscription decodes a json or verbose_json body. Text is trimmed (Whisper starts
// segments with a space); times are clamped to [0, 24h] rather than failing a usable transcript
// over an odd timestamp.
func decodeTranscription(body []byte) (Result, error) {
	var w wireTranscription
	if err := json.Unmarshal(body, &w); err != nil {
		return Result{}, err
	}
	if w.Text == nil {
		return Result{}, errNoText
	}
	res := Result{
		Text:     strings.TrimSpace(*w.Text),
		Language: w.Language,
		Duration: seconds(w.Duration),
	}
	for _, s := range w.Segments {
		res.Segments = append(res.Segments, Segment{
			Start: seconds(s.Start),
			End:   seconds(s.End),
			Text:  strings.TrimSpace(s.Text),
		})
	}
	return res, nil
}

// seconds converts a JSON number of seconds to a Duration within [0, 24h], to the microsecond.
func seconds(s float64) time.Duration {
	const limit = 24 * time.Hour
	if math.IsNaN(s) || s <= 0 {
		return 0
	}
	if s >= limit.Seconds() {
		return limit
	}
	return time.Duration(math.Round(s*1e6)) * time.Microsecond
}
