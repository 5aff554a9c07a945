package transcribe

import (
	"encoding/binary"
	"fmt"
	"math"
)

// WAVHeaderSize is the size of the canonical RIFF/WAVE header EncodeWAV writes.
const WAVHeaderSize = 44

// EncodeWAV wraps 16-bit little-endian mono PCM in the canonical 44-byte WAV header (RIFF,
// a 16-byte "fmt " chunk with format 1 = PCM, then "data"), the form every transcription server
// accepts as an uploaded file. The PCM bytes are copied unchanged after the header.
func EncodeWAV(pcm []byte, sampleRate int) ([]byte, error) {
	if len(pcm)%2 != 0 {
		return nil, fmt.Errorf("PCM16 audio has an odd number of bytes (%d)", len(pcm))
	}
	if sampleRate < 1000 || sampleRate > 384000 {
		return nil, fmt.Errorf("sample rate %d Hz is outside [1000, 384000]", sampleRate)
	}
	if uint64(len(pcm)) > math.MaxUint32-(WAVHeaderSize-8) {
		return nil, fmt.Errorf("%d bytes of audio do not fit in a WAV file", len(pcm))
	}
	const (
		channels      = 1
		bitsPerSample = 16
		blockAlign    = channels * bitsPerSample / 8
	)
	out := make([]byte, WAVHeaderSize, WAVHeaderSize+len(pcm))
	le := binary.LittleEndian
	copy(out[0:], "RIFF")
	le.PutUint32(out[4:], uint32(WAVHeaderSize-8+len(pcm))) // the rest of the file
	copy(out[8:], "WAVE")
	copy(out[12:], "fmt ")
	le.PutUint32(out[16:], 16) // fmt chunk size for PCM
	le.PutUint16(out[20:], 1)  // format: integer PCM
	le.PutUint16(out[22:], channels)
	le.PutUint32(out[24:], uint32(sampleRate))
	le.PutUint32(out[28:], uint32(sampleRate*blockAlign)) // bytes per second
	le.PutUint16(out[32:], blockAlign)
	le.PutUint16(out[34:], bitsPerSample)
	copy(out[36:], "data")
	le.PutUint32(out[40:], uint32(len(pcm)))
	return append(out, pcm...), nil
}
