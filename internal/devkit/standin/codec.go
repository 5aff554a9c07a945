package standin

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"
	"time"
)

// The speech codec makes the stand-in TTS and STT honest: the "speech" is a modem signal that
// carries the exact text, so a test can check that what reached the STT endpoint is what the TTS
// produced, byte for byte, after chunking, VAD segmentation and gain changes on the way.
//
// One utterance is, at any sample rate R (a multiple of 100 in [8000, 48000]):
//
//	300 ms of silence
//	preamble   16 symbols, a fixed permutation of 0..15, for detection and alignment
//	length      4 symbols, the payload length in bytes as a big-endian uint16
//	payload     2 symbols per byte, high nibble first (the UTF-8 bytes of the text)
//	crc         8 symbols, CRC-32 (IEEE) of the length and payload bytes, big-endian
//	postamble   4 symbols, a fixed tail so a VAD hang-over never clips the CRC
//	300 ms of silence
//
// A symbol is 10 ms (R/100 samples) of a sine at (5+2s)·100 Hz for symbol s, 500 to 3500 Hz:
// every tone has a whole number of cycles per symbol, so the tones are orthogonal over one symbol
// (a correlator separates them exactly), the phase is continuous across symbol boundaries (no
// clicks), and the highest tone stays below the 4 kHz Nyquist limit of 8 kHz audio. The tones have
// a constant amplitude of 8192 (about -12 dBFS peak), so an energy VAD sees one continuous
// utterance with no internal silence, and real silence around it.
const (
	symbolsPerSecond = 100
	lowestToneBin    = 5 // cycles per symbol of symbol 0
	toneBinStep      = 2
	toneAmplitude    = 8192
	speechPadding    = 300 * time.Millisecond

	// MaxSpeechBytes is the longest text, in UTF-8 bytes, that one utterance can carry: the
	// length header is 16 bits. It is 22 minutes of audio, far above the 4096 characters the
	// speech endpoint accepts.
	MaxSpeechBytes = math.MaxUint16

	// MinSampleRate and MaxSampleRate bound the sample rates the codec supports.
	MinSampleRate = 8000
	MaxSampleRate = 48000
)

var (
	preambleSymbols  = [...]uint8{0, 9, 3, 12, 6, 15, 1, 10, 4, 13, 7, 2, 11, 5, 14, 8}
	postambleSymbols = [...]uint8{15, 7, 0, 8}
)

// frameOverhead is the number of symbols in a frame besides the payload.
const frameOverhead = len(preambleSymbols) + 4 + 8 + len(postambleSymbols)

// Utterance is one decoded utterance and where it sits in the audio.
type Utterance struct {
	Text       string
	Start, End time.Duration
}

// CheckSampleRate reports whether the codec can work at sampleRate; the error matches
// ErrSampleRate.
func CheckSampleRate(sampleRate int) error {
	if sampleRate < MinSampleRate || sampleRate > MaxSampleRate || sampleRate%symbolsPerSecond != 0 {
		return fmt.Errorf("%w: %d Hz (want a multiple of %d in [%d, %d])",
			ErrSampleRate, sampleRate, symbolsPerSecond, MinSampleRate, MaxSampleRate)
	}
	return nil
}

// EncodeSpeech returns text as one utterance of 16-bit little-endian mono PCM at sampleRate,
// with 300 ms of silence before and after. Concatenating the results of several calls gives audio
// that DecodeSpeech splits back into the same texts.
//
// It panics when CheckSampleRate(sampleRate) fails or text is longer than MaxSpeechBytes: both
// are programming errors in the caller, as with strings.Repeat and a negative count.
func EncodeSpeech(text string, sampleRate int) []byte {
	if err := CheckSampleRate(sampleRate); err != nil {
		panic("standin.EncodeSpeech: " + err.Error())
	}
	if len(text) > MaxSpeechBytes {
		panic(fmt.Sprintf("standin.EncodeSpeech: text of %d bytes is longer than %d", len(text), MaxSpeechBytes))
	}
	tones := toneBlocks(sampleRate / symbolsPerSecond)
	symbols := frameSymbols([]byte(text))
	pad := 2 * int(int64(sampleRate)*int64(speechPadding)/int64(time.Second))
	out := make([]byte, 2*pad+len(symbols)*len(tones[0]))
	at := pad
	for _, s := range symbols {
		at += copy(out[at:], tones[s])
	}
	return out
}

// frameSymbols lays out one frame (preamble to postamble) as 4-bit symbols.
func frameSymbols(payload []byte) []uint8 {
	header := binary.BigEndian.AppendUint16(nil, uint16(len(payload)))
	crc := crc32.NewIEEE()
	crc.Write(header)
	crc.Write(payload)
	out := make([]uint8, 0, frameOverhead+2*len(payload))
	out = append(out, preambleSymbols[:]...)
	for _, part := range [][]byte{header, payload, crc.Sum(nil)} {
		for _, b := range part {
			out = append(out, b>>4, b&0x0f)
		}
	}
	return append(out, postambleSymbols[:]...)
}

// toneBlocks returns each symbol's tone as n samples of 16-bit little-endian PCM, ready to copy.
func toneBlocks(n int) [16][]byte {
	var blocks [16][]byte
	for s, tone := range toneSamples(n) {
		for _, v := range tone {
			blocks[s] = binary.LittleEndian.AppendUint16(blocks[s], uint16(v))
		}
	}
	return blocks
}

// toneSamples returns the n samples of each of the 16 symbol tones.
func toneSamples(n int) [16][]int16 {
	var tones [16][]int16
	for s := range tones {
		bin := float64(lowestToneBin + toneBinStep*s)
		tones[s] = make([]int16, n)
		for i := range n {
			tones[s][i] = int16(math.Round(toneAmplitude * math.Sin(2*math.Pi*bin*float64(i)/float64(n))))
		}
	}
	return tones
}
