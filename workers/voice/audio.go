package voice

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/jetflow-dev/jetflow/internal/failure"
	"github.com/jetflow-dev/jetflow/internal/upstream/transcribe"
	jetflowv1 "github.com/jetflow-dev/jetflow/proto/jetflow/v1"
)

// pcmAudio is mono 16-bit little-endian PCM, what the transcription client uploads.
type pcmAudio struct {
	data       []byte
	sampleRate int
}

// unsupported is the permanent error for audio the worker cannot transcribe.
func unsupported(format string, args ...any) error {
	return unsupportedErr(fmt.Errorf(format, args...))
}

// unsupportedErr classifies err, which says what is wrong with the audio, as unsupported.
func unsupportedErr(err error) error {
	return failure.Permanent(fmt.Errorf("%w: %w: %w", failure.ErrInvalid, ErrUnsupportedAudio, err))
}

// detect names the encoding of audio sent without a format, from its first bytes. Raw PCM has
// no signature (and no rate), so it cannot be detected.
func detect(b []byte) jetflowv1.AudioFormat_Encoding {
	switch {
	case len(b) >= 12 && string(b[0:4]) == "RIFF" && string(b[8:12]) == "WAVE":
		return jetflowv1.AudioFormat_ENCODING_WAV
	case bytes.HasPrefix(b, []byte("fLaC")):
		return jetflowv1.AudioFormat_ENCODING_FLAC
	case bytes.HasPrefix(b, []byte("OggS")):
		return jetflowv1.AudioFormat_ENCODING_OPUS
	case bytes.HasPrefix(b, []byte("ID3")), len(b) >= 2 && b[0] == 0xFF && b[1]&0xE0 == 0xE0:
		return jetflowv1.AudioFormat_ENCODING_MP3
	}
	return jetflowv1.AudioFormat_ENCODING_UNSPECIFIED
}

// decodeAudio turns a request's audio into mono PCM16. Stereo is mixed down; compressed
// formats and audio without a single sample are refused, since the transcription client
// uploads WAV.
func decodeAudio(b []byte, f *jetflowv1.AudioFormat) (pcmAudio, error) {
	a, err := decodeAnyAudio(b, f)
	if err == nil && len(a.data) == 0 {
		err = unsupported("the audio holds no samples")
	}
	return a, err
}

func decodeAnyAudio(b []byte, f *jetflowv1.AudioFormat) (pcmAudio, error) {
	enc := f.GetEncoding()
	if enc == jetflowv1.AudioFormat_ENCODING_UNSPECIFIED {
		enc = detect(b)
	}
	switch enc {
	case jetflowv1.AudioFormat_ENCODING_PCM16:
		if f.GetSampleRate() == 0 {
			return pcmAudio{}, unsupported("PCM16 audio needs format.sample_rate")
		}
		channels := max(int(f.GetChannels()), 1)
		pcm, err := mono(b, channels)
		if err != nil {
			return pcmAudio{}, err
		}
		return pcmAudio{data: pcm, sampleRate: int(f.GetSampleRate())}, nil
	case jetflowv1.AudioFormat_ENCODING_WAV:
		pcm, rate, channels, err := transcribe.DecodeWAV(b)
		if err != nil {
			return pcmAudio{}, unsupportedErr(err)
		}
		pcm, err = mono(pcm, channels) // whole frames: DecodeWAV drops a cut-off last one
		if err != nil {
			return pcmAudio{}, err
		}
		return pcmAudio{data: pcm, sampleRate: rate}, nil
	case jetflowv1.AudioFormat_ENCODING_UNSPECIFIED:
		return pcmAudio{}, unsupported("format is unset and the audio is not a WAV file; raw PCM needs format PCM16 with its sample rate")
	default:
		return pcmAudio{}, unsupported("%v audio cannot be transcribed; send PCM16 or WAV", enc)
	}
}

// mono mixes interleaved PCM16 frames of channels samples down to one channel.
func mono(pcm []byte, channels int) ([]byte, error) {
	frame := 2 * channels
	if len(pcm)%frame != 0 {
		return nil, unsupported("%d bytes of PCM16 audio are not whole frames of %d channel(s)", len(pcm), channels)
	}
	if channels == 1 {
		return pcm, nil
	}
	out := make([]byte, len(pcm)/channels)
	for i, o := 0, 0; i < len(pcm); i, o = i+frame, o+2 {
		sum := 0
		for c := range channels {
			sum += int(int16(binary.LittleEndian.Uint16(pcm[i+2*c:])))
		}
		binary.LittleEndian.PutUint16(out[o:], uint16(int16(sum/channels)))
	}
	return out, nil
}
