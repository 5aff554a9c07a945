package standin

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"
	"time"
)

// DecodeSpeech returns the texts of the utterances in pcm (16-bit little-endian mono at
// sampleRate), in order. Audio without an utterance gives no texts and no error; an odd trailing
// byte is ignored.
//
// When an utterance was found but could not be read back (cut short, or its CRC does not match),
// the intact ones are still returned, with an error matching ErrDamagedSpeech.
func DecodeSpeech(pcm []byte, sampleRate int) ([]string, error) {
	us, err := DecodeUtterances(pcm, sampleRate)
	texts := make([]string, 0, len(us))
	for _, u := range us {
		texts = append(texts, u.Text)
	}
	return texts, err
}

// DecodeUtterances is DecodeSpeech with the position of each utterance in the audio.
//
// The decoder needs no particular alignment, leading silence or gain: it finds where sound starts
// (the first sample above 1/50 of the loudest one), slides a correlator for the preamble over
// half a symbol either side to find the exact symbol grid, and then reads the frame. Stretches of
// sound without a preamble (noise, speech, music) are skipped silently.
func DecodeUtterances(pcm []byte, sampleRate int) ([]Utterance, error) {
	if err := CheckSampleRate(sampleRate); err != nil {
		return nil, err
	}
	d := newDecoder(pcm, sampleRate/symbolsPerSecond)
	var out []Utterance
	damaged := 0
	at := func(sample int) time.Duration {
		return time.Duration(int64(sample) * int64(time.Second) / int64(sampleRate))
	}
	threshold := d.peak() / 50
	minSound := (frameOverhead - 1) * d.n
	for pos := 0; ; {
		on := d.onset(pos, threshold)
		if on < 0 {
			break
		}
		soundEnd := d.soundEnd(on, threshold)
		if soundEnd-on < minSound {
			pos = soundEnd
			continue
		}
		start, ok := d.align(on)
		if !ok {
			pos = soundEnd
			continue
		}
		text, end, ok := d.frame(start)
		if !ok {
			damaged++
			pos = max(soundEnd, start+d.n)
			continue
		}
		out = append(out, Utterance{Text: text, Start: at(start), End: at(end)})
		pos = end
	}
	if damaged > 0 {
		return out, fmt.Errorf("%d utterance(s) cut short or corrupted: %w", damaged, ErrDamagedSpeech)
	}
	return out, nil
}

// decoder holds the samples and the correlation tables of the 16 tones for one call. No other
// goroutine ever sees it, so its per-sample loops are marked go:norace: under the race detector
// they would otherwise run tens of times slower and make every race-enabled test that decodes
// audio crawl, for no possible finding. (newDecoder reads the caller's pcm once; a caller that
// writes pcm concurrently is caught by the race detector elsewhere, where it writes.)
type decoder struct {
	x        []float64
	n        int // samples per symbol
	cos, sin [16][]float64
}

//go:norace
func newDecoder(pcm []byte, n int) *decoder {
	d := &decoder{x: make([]float64, len(pcm)/2), n: n}
	for i := range d.x {
		d.x[i] = float64(int16(binary.LittleEndian.Uint16(pcm[2*i:])))
	}
	for s := range 16 {
		bin := float64(lowestToneBin + toneBinStep*s)
		d.cos[s] = make([]float64, n)
		d.sin[s] = make([]float64, n)
		for i := range n {
			phase := 2 * math.Pi * bin * float64(i) / float64(n)
			d.cos[s][i] = math.Cos(phase)
			d.sin[s][i] = math.Sin(phase)
		}
	}
	return d
}

//go:norace
func (d *decoder) peak() float64 {
	var p float64
	for _, v := range d.x {
		p = max(p, v, -v) // not math.Abs: its unsafe bit casts cost a checkptr call per sample under -race
	}
	return p
}

// onset returns the first sample at or after pos louder than threshold, or -1.
//
//go:norace
func (d *decoder) onset(pos int, threshold float64) int {
	for i := pos; i < len(d.x); i++ {
		if v := d.x[i]; v > threshold || v < -threshold {
			return i
		}
	}
	return -1
}

// soundEnd returns where the sound that starts at on is followed by two symbols of silence, or
// the end of the audio. A tone never stays below the threshold that long.
//
//go:norace
func (d *decoder) soundEnd(on int, threshold float64) int {
	quiet := 0
	for i := on; i < len(d.x); i++ {
		if v := d.x[i]; v > threshold || v < -threshold {
			quiet = 0
			continue
		}
		quiet++
		if quiet == 2*d.n {
			return i + 1 - quiet
		}
	}
	return len(d.x)
}

// toneShare returns the share of the window's energy at start that symbol s's tone holds: 1 for
// the pure tone, 0 for silence or an orthogonal tone.
//
//go:norace
func (d *decoder) toneShare(start, s int) float64 {
	var re, im, e float64
	c, sn := d.cos[s], d.sin[s]
	for i, v := range d.x[start : start+d.n] {
		re += v * c[i]
		im += v * sn[i]
		e += v * v
	}
	if e == 0 {
		return 0
	}
	return (re*re + im*im) / (e * float64(d.n) / 2)
}

// symbol returns the strongest tone in the window at start and its share of the energy.
//
//go:norace
func (d *decoder) symbol(start int) (uint8, float64) {
	w := d.x[start : start+d.n]
	var e float64
	for _, v := range w {
		e += v * v
	}
	best, bestPower := 0, -1.0
	for s := range 16 {
		var re, im float64
		c, sn := d.cos[s][:len(w)], d.sin[s][:len(w)]
		for i, v := range w {
			re += v * c[i]
			im += v * sn[i]
		}
		if p := re*re + im*im; p > bestPower {
			best, bestPower = s, p
		}
	}
	if e == 0 {
		return uint8(best), 0
	}
	return uint8(best), bestPower / (e * float64(d.n) / 2)
}

// align finds the symbol grid of a preamble starting near on: the offset within half a symbol
// where the preamble's tones hold the most energy. It reports false when there is no preamble.
//
// A tone's share of a window falls smoothly as the window slides off it, so a coarse search on
// the first preamble symbols, refined sample by sample on all of them, finds the same peak as an
// exhaustive search at a tenth of the cost. Ties go to the earlier offset: a symbol's first
// sample is 0, so the windows at the true start and one sample later hold the same energy.
func (d *decoder) align(on int) (int, bool) {
	const coarseStep, coarseSymbols = 4, 4
	score := func(o, symbols int) float64 {
		total := 0.0
		for i, s := range preambleSymbols[:symbols] {
			total += d.toneShare(o+i*d.n, int(s))
		}
		return total
	}
	last := len(d.x) - len(preambleSymbols)*d.n
	best, bestScore := -1, 0.0
	for o := max(0, on-d.n/2); o <= min(on+d.n/2, last); o += coarseStep {
		if s := score(o, coarseSymbols); s > bestScore*(1+1e-9) {
			best, bestScore = o, s
		}
	}
	if best < 0 {
		return 0, false
	}
	bestScore = 0
	for o := max(0, best-coarseStep); o <= min(best+coarseStep, last); o++ {
		if s := score(o, len(preambleSymbols)); s > bestScore*(1+1e-9) {
			best, bestScore = o, s
		}
	}
	if bestScore < 0.8*float64(len(preambleSymbols)) {
		return 0, false
	}
	for i, s := range preambleSymbols {
		if got, share := d.symbol(best + i*d.n); got != s || share < 0.5 {
			return 0, false
		}
	}
	return best, true
}

// frame reads the frame whose preamble starts at start. It returns the text and the sample after
// the frame, or false when the frame is cut short or fails its CRC.
func (d *decoder) frame(start int) (string, int, bool) {
	at := start + len(preambleSymbols)*d.n
	read := func(dst []byte) bool {
		if at+2*len(dst)*d.n > len(d.x) {
			return false
		}
		for i := range dst {
			hi, _ := d.symbol(at)
			lo, _ := d.symbol(at + d.n)
			dst[i] = hi<<4 | lo
			at += 2 * d.n
		}
		return true
	}
	var header, sum [4]byte
	if !read(header[:2]) {
		return "", 0, false
	}
	length := int(binary.BigEndian.Uint16(header[:2]))
	if at+2*(length+len(sum))*d.n > len(d.x) {
		return "", 0, false
	}
	payload := make([]byte, length)
	read(payload)
	read(sum[:])
	crc := crc32.NewIEEE()
	crc.Write(header[:2])
	crc.Write(payload)
	if crc.Sum32() != binary.BigEndian.Uint32(sum[:]) {
		return "", 0, false
	}
	return string(payload), min(at+len(postambleSymbols)*d.n, len(d.x)), true
}
