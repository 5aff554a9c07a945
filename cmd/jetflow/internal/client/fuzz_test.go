package client

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/internal/upstream/transcribe"
)

// A WAV file is outside input: whatever DecodeWAV accepts becomes chunks that carry exactly its
// mono audio, in order, each one a valid SttAudioChunk, the last one ending the stream.
func FuzzAudioChunks(f *testing.F) {
	for _, seed := range [][]byte{
		stereoWAV([]byte{1, 0, 2, 0, 3, 0, 4, 0}, 8000),
		stereoWAV(bytes.Repeat([]byte{0x10, 0x80}, 4000), 16000),
	} {
		f.Add(seed, int64(100))
	}
	if wav, err := transcribe.EncodeWAV(bytes.Repeat([]byte{0xff, 0x7f}, 3000), 48000); err == nil {
		f.Add(wav, int64(20))
	}
	f.Fuzz(func(t *testing.T, file []byte, chunkMillis int64) {
		pcm, rate, channels, err := transcribe.DecodeWAV(file)
		if err != nil {
			return
		}
		audio := mono(pcm, channels)
		if len(audio)%2 != 0 || (channels > 0 && len(audio) != len(pcm)/channels) {
			t.Fatalf("%d bytes of %d-channel PCM mixed down to %d bytes", len(pcm), channels, len(audio))
		}
		length := time.Duration(20+abs(chunkMillis)%4981) * time.Millisecond
		list := chunks("fuzz-session", audio, rate, chunkBytes(rate, length), "en")
		var joined []byte
		for i, c := range list {
			if err := c.Validate(); err != nil {
				t.Fatalf("chunk %d of %d is invalid: %v", i, len(list), err)
			}
			if c.GetEndOfStream() != (i == len(list)-1) || c.GetSequence() != int64(i) || !strings.HasPrefix(c.GetRequestId(), "fuzz-session-") {
				t.Fatalf("chunk %d: %v", i, c)
			}
			joined = append(joined, c.GetPcm()...)
		}
		if !bytes.Equal(joined, audio) {
			t.Fatalf("the chunks carry %d bytes, the audio is %d", len(joined), len(audio))
		}
	})
}

// KEY=VALUE arguments: what parameters accepts keeps each key and value as given.
func FuzzParameters(f *testing.F) {
	f.Add("collection=docs since=2026-01-01")
	f.Add("a==b c=")
	f.Add("=x")
	f.Fuzz(func(t *testing.T, line string) {
		args := strings.Fields(line)
		params, err := parameters(args)
		if err != nil {
			return
		}
		if len(params) != len(args) {
			t.Fatalf("%q gave %d parameters", args, len(params))
		}
		for _, a := range args {
			key, value, _ := strings.Cut(a, "=")
			if !parameterKey.MatchString(key) || params[key] != value {
				t.Fatalf("%q: parameter %q = %q", a, key, params[key])
			}
		}
	})
}

func abs(n int64) int64 {
	if n < 0 {
		return -n
	}
	return n
}
