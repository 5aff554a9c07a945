package standin

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

// randomSentences returns n seeded sentences with punctuation, digits and non-ASCII text.
func randomSentences(rng *rand.Rand, n int) []string {
	words := []string{
		"the", "model", "answers", "café", "naïve", "Zürich", "東京", "über", "ß", "42", "3.14",
		"2026-11-28", "hello,", "world!", "what?", "(quoted)", `"speech"`, "user's", "e-mail",
		"señor", "Ελλάδα", "🙂", "jetflow", "stream", "a", "I", "#7", "50%", "x=y+z;",
	}
	out := make([]string, n)
	for i := range out {
		k := 1 + rng.IntN(14)
		parts := make([]string, k)
		for j := range parts {
			parts[j] = words[rng.IntN(len(words))]
		}
		out[i] = strings.Join(parts, " ") + []string{".", "?", "!", "", "…"}[rng.IntN(5)]
	}
	return out
}

// scale multiplies 16-bit little-endian PCM by f, clipping at full scale.
func scale(pcm []byte, f float64) []byte {
	out := make([]byte, len(pcm))
	for i := 0; i+1 < len(pcm); i += 2 {
		v := math.Round(float64(int16(binary.LittleEndian.Uint16(pcm[i:]))) * f)
		v = min(max(v, math.MinInt16), math.MaxInt16)
		binary.LittleEndian.PutUint16(out[i:], uint16(int16(v)))
	}
	return out
}

// rechunk cuts pcm at random byte offsets (odd ones too) and joins the pieces again, the way
// audio travels as NATS chunks.
func rechunk(rng *rand.Rand, pcm []byte) []byte {
	var pieces [][]byte
	for rest := pcm; len(rest) > 0; {
		k := min(len(rest), 1+rng.IntN(3000))
		pieces = append(pieces, bytes.Clone(rest[:k]))
		rest = rest[k:]
	}
	return bytes.Join(pieces, nil)
}

func silence(sampleRate int, d time.Duration) []byte {
	return make([]byte, 2*int(int64(sampleRate)*int64(d)/int64(time.Second)))
}

func TestSpeechRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	sentences := randomSentences(rng, 100)
	tests := []struct {
		name   string
		rate   int
		change func(pcm []byte) []byte
	}{
		{"plain", 16000, func(p []byte) []byte { return p }},
		{"rechunked", 16000, func(p []byte) []byte { return rechunk(rng, p) }},
		{"odd silence around", 16000, func(p []byte) []byte {
			return slices.Concat(silence(16000, time.Duration(rng.IntN(2000))*time.Millisecond+time.Duration(rng.IntN(60))*time.Microsecond*17), p,
				silence(16000, time.Duration(rng.IntN(3000))*time.Millisecond))
		}},
		{"padding stripped", 16000, func(p []byte) []byte { return bytes.Trim(p, "\x00") }},
		{"quiet", 16000, func(p []byte) []byte { return scale(p, 0.03) }},
		{"loud", 16000, func(p []byte) []byte { return scale(p, 3.5) }},
		{"inverted", 16000, func(p []byte) []byte { return scale(p, -0.7) }},
		{"8 kHz", 8000, func(p []byte) []byte { return p }},
		{"24 kHz quieter", 24000, func(p []byte) []byte { return scale(p, 0.5) }},
		{"48 kHz", 48000, func(p []byte) []byte { return p }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, want := range sentences {
				got, err := DecodeSpeech(tt.change(EncodeSpeech(want, tt.rate)), tt.rate)
				if err != nil || len(got) != 1 || got[0] != want {
					t.Fatalf("DecodeSpeech(EncodeSpeech(%q)) = %q, %v", want, got, err)
				}
			}
		})
	}
}

func TestSpeechSeveralUtterances(t *testing.T) {
	const rate = 16000
	first := bytes.Trim(EncodeSpeech("Where is the café?", rate), "\x00")
	second := bytes.Trim(EncodeSpeech("Near the station, 200 m.", rate), "\x00")
	pcm := slices.Concat(silence(rate, time.Second), first, silence(rate, 500*time.Millisecond), second,
		silence(rate, 100*time.Millisecond))
	us, err := DecodeUtterances(pcm, rate)
	if err != nil {
		t.Fatal(err)
	}
	if len(us) != 2 || us[0].Text != "Where is the café?" || us[1].Text != "Near the station, 200 m." {
		t.Fatalf("utterances = %+v", us)
	}
	// Trimming the zero bytes also cut each utterance's first sample, which is 0: the decoder
	// puts the start where that sample was, one sample (62.5 µs) earlier.
	const sample = time.Second / rate
	if us[0].Start != time.Second-sample {
		t.Errorf("first starts at %v, want 1s - 1 sample", us[0].Start)
	}
	if gap := us[1].Start - us[0].End; gap != 500*time.Millisecond-sample {
		t.Errorf("gap between utterances = %v, want 500ms - 1 sample", gap)
	}
}

func TestSpeechEmptyText(t *testing.T) {
	got, err := DecodeSpeech(EncodeSpeech("", 16000), 16000)
	if err != nil || len(got) != 1 || got[0] != "" {
		t.Fatalf("got %q, %v; want one empty utterance", got, err)
	}
}

func TestSpeechWithoutUtterance(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	noise := make([]byte, 32000)
	for i := range noise {
		noise[i] = byte(rng.Uint32())
	}
	tone := make([]byte, 32000)
	for i := 0; i < len(tone); i += 2 {
		binary.LittleEndian.PutUint16(tone[i:], uint16(int16(8000*math.Sin(float64(i)/7))))
	}
	tests := []struct {
		name string
		pcm  []byte
	}{
		{"empty", nil},
		{"one byte", []byte{1}},
		{"silence", silence(16000, time.Second)},
		{"noise", noise},
		{"steady tone", tone},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeSpeech(tt.pcm, 16000)
			if err != nil || len(got) != 0 {
				t.Fatalf("got %q, %v; want nothing", got, err)
			}
		})
	}
}

func TestSpeechDamaged(t *testing.T) {
	const rate = 16000
	intact := EncodeSpeech("still here", rate)
	cut := EncodeSpeech("this one is cut in the middle", rate)
	cut = cut[:len(cut)/2]
	flipped := bytes.Trim(EncodeSpeech("this one has a wrong symbol", rate), "\x00")
	// Replace the tone of the 30th symbol with another one.
	n := rate / symbolsPerSecond
	tones := toneSamples(n)
	for i, v := range tones[(int(frameSymbols([]byte("this one has a wrong symbol"))[30])+5)%16] {
		binary.LittleEndian.PutUint16(flipped[2*(30*n+i):], uint16(v))
	}
	tests := []struct {
		name string
		pcm  []byte
	}{
		{"cut short", slices.Concat(intact, cut)},
		{"wrong symbol", slices.Concat(intact, silence(rate, time.Second), flipped, silence(rate, time.Second))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeSpeech(tt.pcm, rate)
			if !errors.Is(err, ErrDamagedSpeech) {
				t.Errorf("err = %v, want ErrDamagedSpeech", err)
			}
			if len(got) != 1 || got[0] != "still here" {
				t.Errorf("got %q, want the intact utterance", got)
			}
		})
	}
}

func TestSpeechHasNoInternalSilence(t *testing.T) {
	// The stt worker's energy VAD must see one utterance: every 10 ms frame between the padding
	// holds sound at constant loudness, and the padding is digital silence.
	const rate = 16000
	pcm := EncodeSpeech("One utterance, no pauses: 1 2 3.", rate)
	pad := 2 * rate * 300 / 1000
	body := pcm[pad : len(pcm)-pad]
	if !bytes.Equal(pcm[:pad], make([]byte, pad)) || !bytes.Equal(pcm[len(pcm)-pad:], make([]byte, pad)) {
		t.Fatal("padding is not silence")
	}
	frame := 2 * rate / 100
	for at := 0; at+frame <= len(body); at += frame {
		var e float64
		for i := at; i < at+frame; i += 2 {
			v := float64(int16(binary.LittleEndian.Uint16(body[i:])))
			e += v * v
		}
		rms := math.Sqrt(e / float64(frame/2))
		if math.Abs(rms-toneAmplitude/math.Sqrt2) > 50 {
			t.Fatalf("frame at byte %d has RMS %.0f, want %.0f", at, rms, toneAmplitude/math.Sqrt2)
		}
	}
}

func TestCheckSampleRate(t *testing.T) {
	for _, rate := range []int{0, 7900, 16001, 48100, -16000} {
		if err := CheckSampleRate(rate); !errors.Is(err, ErrSampleRate) {
			t.Errorf("CheckSampleRate(%d) = %v, want ErrSampleRate", rate, err)
		}
		if _, err := DecodeSpeech(nil, rate); !errors.Is(err, ErrSampleRate) {
			t.Errorf("DecodeSpeech at %d = %v, want ErrSampleRate", rate, err)
		}
	}
	for _, rate := range []int{8000, 16000, 22000, 44100, 48000} {
		if err := CheckSampleRate(rate); err != nil {
			t.Errorf("CheckSampleRate(%d) = %v", rate, err)
		}
	}
}

func FuzzDecodeSpeech(f *testing.F) {
	f.Add(bytes.Trim(EncodeSpeech("café 42!", 8000), "\x00"), uint8(0))
	f.Add(EncodeSpeech("", 8000)[1000:], uint8(0))
	f.Add([]byte{}, uint8(1))
	f.Add([]byte{0xff, 0x7f, 0x00, 0x80, 0x01}, uint8(2))
	f.Fuzz(func(t *testing.T, pcm []byte, rate uint8) {
		sampleRate := []int{8000, 16000, 12300}[int(rate)%3]
		us, err := DecodeUtterances(pcm, sampleRate)
		if err != nil && !errors.Is(err, ErrDamagedSpeech) {
			t.Fatalf("unexpected error %v", err)
		}
		for i, u := range us {
			if u.End < u.Start || (i > 0 && u.Start < us[i-1].End) {
				t.Fatalf("utterances out of order: %+v", us)
			}
		}
	})
}

func BenchmarkDecodeSpeech(b *testing.B) {
	pcm := EncodeSpeech("According to [source 1]: the café opens at 9 o'clock, every day.", 16000)
	for b.Loop() {
		if _, err := DecodeSpeech(pcm, 16000); err != nil {
			b.Fatal(err)
		}
	}
}
