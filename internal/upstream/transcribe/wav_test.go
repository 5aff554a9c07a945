package transcribe

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// parseWAV reads back a canonical PCM16 mono WAV file, checking every header field.
func parseWAV(b []byte) (pcm []byte, sampleRate int, err error) {
	if len(b) < WAVHeaderSize {
		return nil, 0, errors.New("shorter than a header")
	}
	le := binary.LittleEndian
	checks := []struct {
		name      string
		got, want any
	}{
		{"RIFF", string(b[0:4]), "RIFF"},
		{"RIFF size", le.Uint32(b[4:]), uint32(len(b) - 8)},
		{"WAVE", string(b[8:12]), "WAVE"},
		{"fmt", string(b[12:16]), "fmt "},
		{"fmt size", le.Uint32(b[16:]), uint32(16)},
		{"format", le.Uint16(b[20:]), uint16(1)},
		{"channels", le.Uint16(b[22:]), uint16(1)},
		{"byte rate", le.Uint32(b[28:]), le.Uint32(b[24:]) * 2},
		{"block align", le.Uint16(b[32:]), uint16(2)},
		{"bits", le.Uint16(b[34:]), uint16(16)},
		{"data", string(b[36:40]), "data"},
		{"data size", le.Uint32(b[40:]), uint32(len(b) - WAVHeaderSize)},
	}
	for _, c := range checks {
		if c.got != c.want {
			return nil, 0, fmt.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	return b[WAVHeaderSize:], int(le.Uint32(b[24:])), nil
}

func TestEncodeWAVGolden(t *testing.T) {
	got, err := EncodeWAV([]byte{0x01, 0x00, 0xff, 0x7f}, 16000)
	if err != nil {
		t.Fatal(err)
	}
	// Written out by hand from the RIFF/WAVE layout: sizes 40 and 4, rate 16000 (0x3e80),
	// byte rate 32000 (0x7d00).
	want, _ := hex.DecodeString("52494646" + "28000000" + "57415645" + "666d7420" + "10000000" + "0100" + "0100" +
		"803e0000" + "007d0000" + "0200" + "1000" + "64617461" + "04000000" + "0100ff7f")
	if !bytes.Equal(got, want) {
		t.Fatalf("got  %x\nwant %x", got, want)
	}
}

func TestWAVRoundTrip(t *testing.T) {
	tests := []struct {
		name    string
		samples int
		rate    int
	}{
		{name: "empty", samples: 0, rate: 16000},
		{name: "one sample", samples: 1, rate: 8000},
		{name: "a second at 16 kHz", samples: 16000, rate: 16000},
		{name: "odd sample count at 44.1 kHz", samples: 4411, rate: 44100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pcm := make([]byte, 2*tt.samples)
			for i := range tt.samples {
				binary.LittleEndian.PutUint16(pcm[2*i:], uint16(int16(i*37-20000)))
			}
			wav, err := EncodeWAV(pcm, tt.rate)
			if err != nil {
				t.Fatal(err)
			}
			gotPCM, gotRate, err := parseWAV(wav)
			if err != nil {
				t.Fatal(err)
			}
			if gotRate != tt.rate || !bytes.Equal(gotPCM, pcm) {
				t.Fatalf("round trip gave %d Hz and %d bytes, want %d Hz and %d bytes", gotRate, len(gotPCM), tt.rate, len(pcm))
			}
			decoded, rate, channels, err := DecodeWAV(wav)
			if err != nil || rate != tt.rate || channels != 1 || !bytes.Equal(decoded, pcm) {
				t.Fatalf("DecodeWAV gave %d Hz, %d channel(s), %d bytes, %v; want %d Hz, mono, %d bytes",
					rate, channels, len(decoded), err, tt.rate, len(pcm))
			}
		})
	}
}

func TestEncodeWAVRejects(t *testing.T) {
	tests := []struct {
		name string
		pcm  []byte
		rate int
	}{
		{name: "odd byte count", pcm: []byte{1, 2, 3}, rate: 16000},
		{name: "zero rate", pcm: []byte{1, 2}, rate: 0},
		{name: "absurd rate", pcm: []byte{1, 2}, rate: 10_000_000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := EncodeWAV(tt.pcm, tt.rate); err == nil {
				t.Fatal("expected an error")
			}
		})
	}
}

// riff builds a WAV file from chunks given as id, body pairs, padding odd bodies as writers do.
func riff(chunks ...any) []byte {
	b := []byte("RIFF\x00\x00\x00\x00WAVE")
	for i := 0; i < len(chunks); i += 2 {
		id, body := chunks[i].(string), chunks[i+1].([]byte)
		b = append(b, id...)
		b = binary.LittleEndian.AppendUint32(b, uint32(len(body)))
		b = append(b, body...)
		if len(body)%2 == 1 {
			b = append(b, 0)
		}
	}
	binary.LittleEndian.PutUint32(b[4:], uint32(len(b)-8))
	return b
}

// fmtChunk is a 16-byte "fmt " chunk body.
func fmtChunk(tag, channels, rate, bits int) []byte {
	le := binary.LittleEndian
	b := le.AppendUint16(nil, uint16(tag))
	b = le.AppendUint16(b, uint16(channels))
	b = le.AppendUint32(b, uint32(rate))
	b = le.AppendUint32(b, uint32(rate*channels*bits/8))
	b = le.AppendUint16(b, uint16(channels*bits/8))
	return le.AppendUint16(b, uint16(bits))
}

// extensibleFmt is a 40-byte WAVE_FORMAT_EXTENSIBLE "fmt " chunk body whose sub-format GUID
// starts with subTag.
func extensibleFmt(channels, rate, subTag int) []byte {
	le := binary.LittleEndian
	b := fmtChunk(wavFormatExtensible, channels, rate, 16)
	b = le.AppendUint16(b, 22) // extension size
	b = le.AppendUint16(b, 16) // valid bits per sample
	b = le.AppendUint32(b, 4)  // channel mask
	b = le.AppendUint16(b, uint16(subTag))
	return append(b, "\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"...)
}

func TestDecodeWAV(t *testing.T) {
	mono := []byte{1, 0, 0xfe, 0xff, 0x2c, 0x01, 0x70, 0xfe}
	plain, err := EncodeWAV(mono, 16000)
	if err != nil {
		t.Fatal(err)
	}
	streaming := riff("fmt ", fmtChunk(1, 1, 8000, 16), "data", mono)
	binary.LittleEndian.PutUint32(streaming[len(streaming)-len(mono)-4:], 0xFFFFFFFF)
	tests := []struct {
		name         string
		in           []byte
		wantPCM      []byte
		wantRate     int
		wantChannels int
		wantErr      string
	}{
		{name: "canonical", in: plain, wantPCM: mono, wantRate: 16000, wantChannels: 1},
		{name: "extensible", in: riff("fmt ", extensibleFmt(1, 22050, wavFormatPCM), "data", mono),
			wantPCM: mono, wantRate: 22050, wantChannels: 1},
		{name: "LIST of odd size first", in: riff("LIST", []byte("abc"), "fmt ", fmtChunk(1, 1, 8000, 16), "data", mono),
			wantPCM: mono, wantRate: 8000, wantChannels: 1},
		{name: "fact between fmt and data", in: riff("fmt ", fmtChunk(1, 1, 8000, 16), "fact", []byte{4, 0, 0, 0}, "data", mono),
			wantPCM: mono, wantRate: 8000, wantChannels: 1},
		{name: "written while streaming", in: streaming, wantPCM: mono, wantRate: 8000, wantChannels: 1},
		{name: "stereo stays interleaved", in: riff("fmt ", fmtChunk(1, 2, 48000, 16), "data", mono),
			wantPCM: mono, wantRate: 48000, wantChannels: 2},
		{name: "cut-off stereo frame dropped", in: riff("fmt ", fmtChunk(1, 2, 16000, 16), "data", mono[:6]),
			wantPCM: mono[:4], wantRate: 16000, wantChannels: 2},
		{name: "odd mono byte dropped", in: riff("fmt ", fmtChunk(1, 1, 16000, 16), "data", mono[:3]),
			wantPCM: mono[:2], wantRate: 16000, wantChannels: 1},
		{name: "empty data", in: riff("fmt ", fmtChunk(1, 1, 16000, 16), "data", []byte{}),
			wantPCM: []byte{}, wantRate: 16000, wantChannels: 1},

		{name: "not RIFF", in: []byte("RIFX\x00\x00\x00\x00WAVE"), wantErr: "not a RIFF/WAVE file"},
		{name: "too short", in: []byte("RIFF"), wantErr: "not a RIFF/WAVE file"},
		{name: "truncated header", in: plain[:30], wantErr: `chunk "fmt " of 16 bytes is cut off`},
		{name: "cut-off LIST", in: append([]byte("RIFF\x00\x00\x00\x00WAVELIST\xff\xff\xff\xff"), "abc"...),
			wantErr: `chunk "LIST" of 4294967295 bytes is cut off`},
		{name: "short fmt", in: riff("fmt ", make([]byte, 14), "data", mono), wantErr: "fmt chunk has 14 bytes"},
		{name: "8-bit", in: riff("fmt ", fmtChunk(1, 1, 8000, 8), "data", mono), wantErr: "format 1 with 8 bits"},
		{name: "float", in: riff("fmt ", fmtChunk(3, 1, 8000, 16), "data", mono), wantErr: "format 3 with 16 bits"},
		{name: "extensible float", in: riff("fmt ", extensibleFmt(1, 8000, 3), "data", mono), wantErr: "format 3 with 16 bits"},
		{name: "no channels", in: riff("fmt ", fmtChunk(1, 0, 8000, 16), "data", mono), wantErr: "0 channels"},
		{name: "three channels", in: riff("fmt ", fmtChunk(1, 3, 8000, 16), "data", mono[:6]), wantErr: "3 channels"},
		{name: "4 kHz", in: riff("fmt ", fmtChunk(1, 1, 4000, 16), "data", mono), wantErr: "sample rate 4000 Hz"},
		{name: "96 kHz", in: riff("fmt ", fmtChunk(1, 1, 96000, 16), "data", mono), wantErr: "sample rate 96000 Hz"},
		{name: "data before fmt", in: riff("data", mono, "fmt ", fmtChunk(1, 1, 8000, 16)), wantErr: "data chunk comes before"},
		{name: "no data", in: riff("fmt ", fmtChunk(1, 1, 8000, 16)), wantErr: "no data chunk"},
		{name: "only a LIST", in: riff("LIST", []byte("ab")), wantErr: "no data chunk"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pcm, rate, channels, err := DecodeWAV(tt.in)
			if tt.wantErr != "" {
				if !errors.Is(err, ErrInvalidWAV) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want ErrInvalidWAV saying %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(pcm, tt.wantPCM) || rate != tt.wantRate || channels != tt.wantChannels {
				t.Fatalf("got %x at %d Hz, %d channel(s); want %x at %d Hz, %d channel(s)",
					pcm, rate, channels, tt.wantPCM, tt.wantRate, tt.wantChannels)
			}
		})
	}
}

// FuzzDecodeWAV holds DecodeWAV to its contract on any input: an error matching ErrInvalidWAV,
// or whole frames within the bounds it promises, which EncodeWAV (for mono) writes back into a
// file that decodes to the same audio. Seeds are under testdata/fuzz/FuzzDecodeWAV.
func FuzzDecodeWAV(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		pcm, rate, channels, err := DecodeWAV(b)
		if err != nil {
			if !errors.Is(err, ErrInvalidWAV) {
				t.Fatalf("error %v does not match ErrInvalidWAV", err)
			}
			return
		}
		if channels < 1 || channels > 2 || rate < 8000 || rate > 48000 {
			t.Fatalf("%d channel(s) at %d Hz", channels, rate)
		}
		if len(pcm)%(2*channels) != 0 || len(pcm) > len(b)-WAVHeaderSize {
			t.Fatalf("%d bytes of PCM in %d channel(s) from a file of %d bytes", len(pcm), channels, len(b))
		}
		if channels != 1 {
			return
		}
		wav, err := EncodeWAV(pcm, rate)
		if err != nil {
			t.Fatalf("re-encoding: %v", err)
		}
		again, againRate, _, err := DecodeWAV(wav)
		if err != nil || againRate != rate || !bytes.Equal(again, pcm) {
			t.Fatalf("re-encoded file decodes to %d bytes at %d Hz (%v), want %d bytes at %d Hz", len(again), againRate, err, len(pcm), rate)
		}
	})
}
