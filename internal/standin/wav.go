package standin

import (
	"encoding/binary"
	"errors"
	"fmt"
)

const wavHeaderSize = 44

// wavFile wraps 16-bit mono PCM in the canonical 44-byte RIFF/WAVE header.
func wavFile(pcm []byte, sampleRate int) []byte {
	out := make([]byte, 0, wavHeaderSize+len(pcm))
	out = append(out, "RIFF"...)
	out = binary.LittleEndian.AppendUint32(out, uint32(36+len(pcm)))
	out = append(out, "WAVEfmt "...)
	out = binary.LittleEndian.AppendUint32(out, 16)
	out = binary.LittleEndian.AppendUint16(out, 1) // PCM
	out = binary.LittleEndian.AppendUint16(out, 1) // mono
	out = binary.LittleEndian.AppendUint32(out, uint32(sampleRate))
	out = binary.LittleEndian.AppendUint32(out, uint32(2*sampleRate)) // bytes per second
	out = binary.LittleEndian.AppendUint16(out, 2)                    // block align
	out = binary.LittleEndian.AppendUint16(out, 16)                   // bits per sample
	out = append(out, "data"...)
	out = binary.LittleEndian.AppendUint32(out, uint32(len(pcm)))
	return append(out, pcm...)
}

// parseWAV returns the samples and sample rate of a RIFF/WAVE file holding 16-bit mono PCM
// (plain or WAVE_FORMAT_EXTENSIBLE). It walks the chunks, so LIST and other chunks before the
// data are skipped; a data size larger than the file (as streaming writers leave it) means "up
// to the end".
func parseWAV(b []byte) ([]byte, int, error) {
	if len(b) < 12 || string(b[:4]) != "RIFF" || string(b[8:12]) != "WAVE" {
		return nil, 0, errors.New("not a RIFF/WAVE file")
	}
	var format, channels, bits uint16
	var rate uint32
	haveFormat := false
	for rest := b[12:]; len(rest) >= 8; {
		id, size := string(rest[:4]), uint64(binary.LittleEndian.Uint32(rest[4:8]))
		rest = rest[8:]
		switch id {
		case "fmt ":
			if size < 16 || size > uint64(len(rest)) {
				return nil, 0, fmt.Errorf("fmt chunk of %d bytes is malformed", size)
			}
			format = binary.LittleEndian.Uint16(rest[0:2])
			channels = binary.LittleEndian.Uint16(rest[2:4])
			rate = binary.LittleEndian.Uint32(rest[4:8])
			bits = binary.LittleEndian.Uint16(rest[14:16])
			if format == 0xfffe && size >= 26 {
				format = binary.LittleEndian.Uint16(rest[24:26]) // the SubFormat GUID starts with the tag
			}
			haveFormat = true
		case "data":
			if !haveFormat {
				return nil, 0, errors.New("data chunk before the fmt chunk")
			}
			if format != 1 || channels != 1 || bits != 16 {
				return nil, 0, fmt.Errorf("audio is format %d, %d channel(s), %d bits; want 16-bit mono PCM", format, channels, bits)
			}
			n := uint64(len(rest))
			if size < n {
				n = size
			}
			return rest[:n&^1], int(rate), nil
		}
		skip := size + size&1 // chunks are padded to even sizes
		if skip > uint64(len(rest)) {
			break
		}
		rest = rest[skip:]
	}
	return nil, 0, errors.New("no data chunk")
}
