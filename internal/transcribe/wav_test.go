package transcribe

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
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
