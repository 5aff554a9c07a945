package voice

import (
	"encoding/binary"
	"errors"
	"testing"

	"github.com/jetflow-dev/jetflow/internal/failure"
	"github.com/jetflow-dev/jetflow/internal/upstream/transcribe"
	jetflowv1 "github.com/jetflow-dev/jetflow/proto/jetflow/v1"
)

// pcm16 encodes samples as little-endian PCM16.
func pcm16(samples ...int16) []byte {
	b := make([]byte, 2*len(samples))
	for i, s := range samples {
		binary.LittleEndian.PutUint16(b[2*i:], uint16(s))
	}
	return b
}

// riff builds a WAV file from chunks given as id, body pairs.
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

// WAV format tags: integer PCM, and WAVE_FORMAT_EXTENSIBLE, whose sub-format GUID starts with
// the real tag.
const (
	wavFormatPCM        = 1
	wavFormatExtensible = 0xFFFE
)

// fmtChunk is a "fmt " chunk body.
func fmtChunk(tag, channels, rate, bits int) []byte {
	b := make([]byte, 16)
	le := binary.LittleEndian
	le.PutUint16(b[0:], uint16(tag))
	le.PutUint16(b[2:], uint16(channels))
	le.PutUint32(b[4:], uint32(rate))
	le.PutUint32(b[8:], uint32(rate*channels*bits/8))
	le.PutUint16(b[12:], uint16(channels*bits/8))
	le.PutUint16(b[14:], uint16(bits))
	return b
}

func TestDecodeAudio(t *testing.T) {
	mono := pcm16(1, -2, 300, -400)
	wav, err := transcribe.EncodeWAV(mono, 16000)
	if err != nil {
		t.Fatal(err)
	}
	extensible := append(fmtChunk(wavFormatExtensible, 1, 22050, 16), make([]byte, 24)...)
	binary.LittleEndian.PutUint16(extensible[24:], wavFormatPCM)
	streaming := riff("fmt ", fmtChunk(1, 1, 8000, 16), "data", mono)
	binary.LittleEndian.PutUint32(streaming[len(streaming)-len(mono)-4:], 0xFFFFFFFF)
	pcmFormat := func(rate, channels int32) *jetflowv1.AudioFormat {
		return &jetflowv1.AudioFormat{Encoding: jetflowv1.AudioFormat_ENCODING_PCM16, SampleRate: rate, Channels: channels}
	}
	tests := []struct {
		name     string
		audio    []byte
		format   *jetflowv1.AudioFormat
		want     []byte
		wantRate int
		bad      bool
		badWAV   bool // bad, and the error matches transcribe.ErrInvalidWAV
	}{
		{name: "pcm16 mono", audio: mono, format: pcmFormat(16000, 1), want: mono, wantRate: 16000},
		{name: "pcm16 stereo is mixed down", audio: pcm16(100, 300, -10, -30), format: pcmFormat(48000, 2), want: pcm16(200, -20), wantRate: 48000},
		{name: "pcm16 with half a stereo frame", audio: pcm16(1, 2, 3), format: pcmFormat(16000, 2), bad: true},
		{name: "wav detected without a format", audio: wav, want: mono, wantRate: 16000},
		{name: "wav declared", audio: wav, format: &jetflowv1.AudioFormat{Encoding: jetflowv1.AudioFormat_ENCODING_WAV}, want: mono, wantRate: 16000},
		{name: "wav with a LIST chunk of odd size first", audio: riff("LIST", []byte("abc"), "fmt ", fmtChunk(1, 1, 8000, 16), "data", mono), want: mono, wantRate: 8000},
		{name: "wav extensible", audio: riff("fmt ", extensible, "data", mono), want: mono, wantRate: 22050},
		{name: "wav stereo", audio: riff("fmt ", fmtChunk(1, 2, 16000, 16), "data", pcm16(10, 20, 30, 50)), want: pcm16(15, 40), wantRate: 16000},
		{name: "wav written while streaming", audio: streaming, want: mono, wantRate: 8000},
		{name: "wav of 8-bit samples", audio: riff("fmt ", fmtChunk(1, 1, 8000, 8), "data", []byte{1, 2}), bad: true, badWAV: true},
		{name: "wav of floats", audio: riff("fmt ", fmtChunk(3, 1, 8000, 16), "data", mono), bad: true, badWAV: true},
		{name: "wav at 4 kHz", audio: riff("fmt ", fmtChunk(1, 1, 4000, 16), "data", mono), bad: true, badWAV: true},
		{name: "wav with data before fmt", audio: riff("data", mono, "fmt ", fmtChunk(1, 1, 8000, 16)), bad: true, badWAV: true},
		{name: "wav without data", audio: riff("fmt ", fmtChunk(1, 1, 8000, 16)), bad: true, badWAV: true},
		{name: "wav without samples", audio: riff("fmt ", fmtChunk(1, 1, 8000, 16), "data", []byte{}), bad: true},
		{name: "mp3", audio: []byte("ID3\x03rest"), bad: true},
		{name: "flac", audio: []byte("fLaC\x00rest"), bad: true},
		{name: "ogg opus", audio: []byte("OggS\x00rest"), bad: true},
		{name: "raw pcm without a format", audio: mono, bad: true},
		{name: "pcm16 without a rate", audio: mono, format: &jetflowv1.AudioFormat{Encoding: jetflowv1.AudioFormat_ENCODING_PCM16}, bad: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := decodeAudio(tc.audio, tc.format)
			if tc.bad {
				if !failure.IsPermanent(err) || !errors.Is(err, ErrUnsupportedAudio) || !errors.Is(err, failure.ErrInvalid) {
					t.Fatalf("error %v, want a permanent ErrUnsupportedAudio", err)
				}
				if tc.badWAV && !errors.Is(err, transcribe.ErrInvalidWAV) {
					t.Fatalf("error %v, want it to match transcribe.ErrInvalidWAV", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(got.data) != string(tc.want) || got.sampleRate != tc.wantRate {
				t.Fatalf("got %v at %d Hz, want %v at %d Hz", got.data, got.sampleRate, tc.want, tc.wantRate)
			}
		})
	}
}

// FuzzDecodeWAVAudio feeds arbitrary bytes declared as WAV to the decoder: it never panics,
// refuses with ErrUnsupportedAudio, and what it accepts is mono PCM16 at a supported rate.
func FuzzDecodeWAVAudio(f *testing.F) {
	wav, err := transcribe.EncodeWAV(pcm16(1, 2, 3, 4), 16000)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(wav)
	f.Add(riff("LIST", []byte("x"), "fmt ", fmtChunk(1, 2, 44100, 16), "data", pcm16(1, 2, 3)))
	f.Add(riff("fmt ", fmtChunk(wavFormatExtensible, 1, 8000, 16), "data", pcm16(5)))
	f.Add([]byte("RIFF\xff\xff\xff\xffWAVEfmt \x10\x00\x00\x00"))
	f.Add([]byte("RIFF"))
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := decodeAudio(b, &jetflowv1.AudioFormat{Encoding: jetflowv1.AudioFormat_ENCODING_WAV})
		if err != nil {
			if !errors.Is(err, ErrUnsupportedAudio) {
				t.Fatalf("error %v does not match ErrUnsupportedAudio", err)
			}
			return
		}
		if len(a.data)%2 != 0 || len(a.data) > len(b) {
			t.Fatalf("%d bytes of PCM from %d bytes of file", len(a.data), len(b))
		}
		if a.sampleRate < jetflowv1.MinSampleRate || a.sampleRate > jetflowv1.MaxSampleRate {
			t.Fatalf("sample rate %d", a.sampleRate)
		}
	})
}
