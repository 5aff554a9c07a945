package standin

import (
	"fmt"

	"github.com/jetflow-dev/jetflow/internal/upstream/transcribe"
)

// parseWAV returns the samples and sample rate of a WAV file of 16-bit mono PCM: the stand-in
// speech codec reads one channel, so stereo is refused rather than mixed.
func parseWAV(b []byte) ([]byte, int, error) {
	pcm, rate, channels, err := transcribe.DecodeWAV(b)
	if err != nil {
		return nil, 0, fmt.Errorf("reading WAV file: %w", err)
	}
	if channels != 1 {
		return nil, 0, fmt.Errorf("audio has %d channels; want mono", channels)
	}
	return pcm, rate, nil
}
