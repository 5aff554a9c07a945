package voice

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/jetflow-dev/jetflow/internal/failure"
	jetflowv1 "github.com/jetflow-dev/jetflow/proto/jetflow/v1"
)

// pcmAudio is mono 16-bit little-endian PCM, what the transcription client uploads.
type pcmAudio struct {
	data       []byte
	sampleRate int
}

// unsupported is the permanent error for audio the worker cannot transcribe.
func unsupported(format string, args ...any) error {
	return failure.Permanent(fmt.Errorf("%w: %w: %s", failure.ErrInvalid, ErrUnsupportedAudio, fmt.Sprintf(format, args...)))
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
		return parseWAV(b)
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

// WAV format tags: integer PCM, and WAVE_FORMAT_EXTENSIBLE, whose sub-format GUID starts with
// the real tag.
const (
	wavFormatPCM        = 1
	wavFormatExtensible = 0xFFFE
)

// parseWAV reads a RIFF/WAVE file of 16-bit integer PCM, mono or stereo. Chunks other than
// "fmt " and "data" are skipped (LIST, fact...). A data size larger than what follows (a WAV
// written while streaming, with 0xFFFFFFFF as its size) is taken as "the rest of the file".
func parseWAV(b []byte) (pcmAudio, error) {
	if len(b) < 12 || string(b[0:4]) != "RIFF" || string(b[8:12]) != "WAVE" {
		return pcmAudio{}, unsupported("not a RIFF/WAVE file")
	}
	le := binary.LittleEndian
	var (
		haveFmt  bool
		channels int
		rate     int
	)
	for rest := b[12:]; len(rest) >= 8; {
		id, size := string(rest[0:4]), uint64(le.Uint32(rest[4:8]))
		body := rest[8:]
		if size > uint64(len(body)) {
			if id != "data" {
				return pcmAudio{}, unsupported("WAV chunk %q of %d bytes is cut off", id, size)
			}
			size = uint64(len(body))
		}
		data := body[:size]
		switch id {
		case "fmt ":
			if len(data) < 16 {
				return pcmAudio{}, unsupported("WAV fmt chunk has %d bytes, want 16 or more", len(data))
			}
			tag := int(le.Uint16(data[0:2]))
			if tag == wavFormatExtensible && len(data) >= 26 {
				tag = int(le.Uint16(data[24:26]))
			}
			channels, rate = int(le.Uint16(data[2:4])), int(le.Uint32(data[4:8]))
			bits := int(le.Uint16(data[14:16]))
			if tag != wavFormatPCM || bits != 16 {
				return pcmAudio{}, unsupported("WAV audio is format %d with %d bits per sample; want 16-bit integer PCM", tag, bits)
			}
			if channels < 1 || channels > jetflowv1.MaxChannels {
				return pcmAudio{}, unsupported("WAV audio has %d channels; want 1 or 2", channels)
			}
			if rate < jetflowv1.MinSampleRate || rate > jetflowv1.MaxSampleRate {
				return pcmAudio{}, unsupported("WAV sample rate %d Hz is outside %d..%d", rate, jetflowv1.MinSampleRate, jetflowv1.MaxSampleRate)
			}
			haveFmt = true
		case "data":
			if !haveFmt {
				return pcmAudio{}, unsupported("WAV data chunk comes before the fmt chunk")
			}
			frame := 2 * channels
			data = data[:len(data)-len(data)%frame] // a cut-off last frame is dropped
			pcm, err := mono(data, channels)
			if err != nil {
				return pcmAudio{}, err
			}
			return pcmAudio{data: pcm, sampleRate: rate}, nil
		}
		skip := size + size%2 // chunks are padded to an even size
		if skip >= uint64(len(body)) {
			break
		}
		rest = body[skip:]
	}
	return pcmAudio{}, unsupported("WAV file has no data chunk")
}
