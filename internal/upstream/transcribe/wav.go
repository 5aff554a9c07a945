package transcribe

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	jetflowv1 "github.com/jetflow-dev/jetflow/proto/jetflow/v1"
)

// WAVHeaderSize is the size of the canonical RIFF/WAVE header EncodeWAV writes.
const WAVHeaderSize = 44

// ErrInvalidWAV matches every error of DecodeWAV: the bytes are not a WAV file, or hold audio
// other than 16-bit integer PCM within the platform's channel and sample-rate bounds.
var ErrInvalidWAV = errors.New("invalid WAV")

// WAV format tags: integer PCM, and WAVE_FORMAT_EXTENSIBLE, whose sub-format GUID starts with
// the real tag.
const (
	wavFormatPCM        = 1
	wavFormatExtensible = 0xFFFE
)

// EncodeWAV wraps 16-bit little-endian mono PCM in the canonical 44-byte WAV header (RIFF,
// a 16-byte "fmt " chunk with format 1 = PCM, then "data"), the form every transcription server
// accepts as an uploaded file. The PCM bytes are copied unchanged after the header.
func EncodeWAV(pcm []byte, sampleRate int) ([]byte, error) {
	out, err := appendWAVHeader(make([]byte, 0, WAVHeaderSize+len(pcm)), len(pcm), sampleRate)
	if err != nil {
		return nil, err
	}
	return append(out, pcm...), nil
}

// appendWAVHeader appends EncodeWAV's header for pcmLen bytes of PCM to dst, so a caller that
// writes the PCM elsewhere (the multipart upload) need not copy it next to the header first.
func appendWAVHeader(dst []byte, pcmLen, sampleRate int) ([]byte, error) {
	if pcmLen%2 != 0 {
		return nil, fmt.Errorf("PCM16 audio has an odd number of bytes (%d)", pcmLen)
	}
	if sampleRate < 1000 || sampleRate > 384000 {
		return nil, fmt.Errorf("sample rate %d Hz is outside [1000, 384000]", sampleRate)
	}
	if uint64(pcmLen) > math.MaxUint32-(WAVHeaderSize-8) {
		return nil, fmt.Errorf("%d bytes of audio do not fit in a WAV file", pcmLen)
	}
	const (
		channels      = 1
		bitsPerSample = 16
		blockAlign    = channels * bitsPerSample / 8
	)
	le := binary.LittleEndian
	dst = append(dst, "RIFF"...)
	dst = le.AppendUint32(dst, uint32(WAVHeaderSize-8+pcmLen)) // the rest of the file
	dst = append(dst, "WAVEfmt "...)
	dst = le.AppendUint32(dst, 16) // fmt chunk size for PCM
	dst = le.AppendUint16(dst, wavFormatPCM)
	dst = le.AppendUint16(dst, channels)
	dst = le.AppendUint32(dst, uint32(sampleRate))
	dst = le.AppendUint32(dst, uint32(sampleRate*blockAlign)) // bytes per second
	dst = le.AppendUint16(dst, blockAlign)
	dst = le.AppendUint16(dst, bitsPerSample)
	dst = append(dst, "data"...)
	return le.AppendUint32(dst, uint32(pcmLen)), nil
}

// DecodeWAV reads a RIFF/WAVE file of 16-bit integer PCM (plain or WAVE_FORMAT_EXTENSIBLE) with
// 1 to jetflowv1.MaxChannels channels at a sample rate within jetflowv1.MinSampleRate and
// MaxSampleRate, the bounds every audio message of the platform keeps. pcm is the interleaved
// little-endian samples of the data chunk, a sub-slice of b (not a copy), cut to whole frames.
//
// Chunks other than "fmt " and "data" (LIST, fact...) are skipped wherever they are. A data size
// larger than what follows (a WAV written while streaming, with 0xFFFFFFFF as its size) is taken
// as "the rest of the file"; any other chunk that is cut off is an error. Every error matches
// ErrInvalidWAV.
func DecodeWAV(b []byte) (pcm []byte, sampleRate, channels int, err error) {
	if len(b) < 12 || string(b[0:4]) != "RIFF" || string(b[8:12]) != "WAVE" {
		return nil, 0, 0, invalidWAV("not a RIFF/WAVE file")
	}
	le := binary.LittleEndian
	haveFmt := false
	for rest := b[12:]; len(rest) >= 8; {
		id, size := string(rest[0:4]), uint64(le.Uint32(rest[4:8]))
		body := rest[8:]
		if size > uint64(len(body)) {
			if id != "data" {
				return nil, 0, 0, invalidWAV("chunk %q of %d bytes is cut off", id, size)
			}
			size = uint64(len(body))
		}
		data := body[:size]
		switch id {
		case "fmt ":
			if len(data) < 16 {
				return nil, 0, 0, invalidWAV("fmt chunk has %d bytes, want 16 or more", len(data))
			}
			tag := int(le.Uint16(data[0:2]))
			if tag == wavFormatExtensible && len(data) >= 26 {
				tag = int(le.Uint16(data[24:26]))
			}
			channels, sampleRate = int(le.Uint16(data[2:4])), int(le.Uint32(data[4:8]))
			bits := int(le.Uint16(data[14:16]))
			if tag != wavFormatPCM || bits != 16 {
				return nil, 0, 0, invalidWAV("audio is format %d with %d bits per sample; want 16-bit integer PCM", tag, bits)
			}
			if channels < 1 || channels > jetflowv1.MaxChannels {
				return nil, 0, 0, invalidWAV("audio has %d channels; want 1 to %d", channels, jetflowv1.MaxChannels)
			}
			if sampleRate < jetflowv1.MinSampleRate || sampleRate > jetflowv1.MaxSampleRate {
				return nil, 0, 0, invalidWAV("sample rate %d Hz is outside %d..%d",
					sampleRate, jetflowv1.MinSampleRate, jetflowv1.MaxSampleRate)
			}
			haveFmt = true
		case "data":
			if !haveFmt {
				return nil, 0, 0, invalidWAV("data chunk comes before the fmt chunk")
			}
			frame := 2 * channels
			return data[:len(data)-len(data)%frame], sampleRate, channels, nil // a cut-off last frame is dropped
		}
		skip := size + size%2 // chunks are padded to an even size
		if skip >= uint64(len(body)) {
			break
		}
		rest = body[skip:]
	}
	return nil, 0, 0, invalidWAV("no data chunk")
}

func invalidWAV(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidWAV, fmt.Sprintf(format, args...))
}
