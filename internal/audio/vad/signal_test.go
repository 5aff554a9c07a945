package vad

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"time"
)

// Synthetic signals for the tests. Levels are RMS dBFS, as the detector measures them.

func samplesFor(rate int, d time.Duration) int {
	return int(int64(d) * int64(rate) / int64(time.Second))
}

func amplitude(dbfs float64) float64 { return fullScale * math.Pow(10, dbfs/20) }

// tone is a sine of freq Hz whose RMS level is dbfs.
func tone(rate int, freq, dbfs float64, d time.Duration) []int16 {
	a := amplitude(dbfs) * math.Sqrt2
	out := make([]int16, samplesFor(rate, d))
	for i := range out {
		out[i] = clip(a * math.Sin(2*math.Pi*freq*float64(i)/float64(rate)))
	}
	return out
}

// noise is Gaussian white noise whose RMS level is dbfs, reproducible from seed.
func noise(rate int, dbfs float64, d time.Duration, seed uint64) []int16 {
	r := rand.New(rand.NewPCG(seed, 1))
	sigma := amplitude(dbfs)
	out := make([]int16, samplesFor(rate, d))
	for i := range out {
		out[i] = clip(r.NormFloat64() * sigma)
	}
	return out
}

func silence(rate int, d time.Duration) []int16 { return make([]int16, samplesFor(rate, d)) }

func clip(v float64) int16 { return int16(max(-32768, min(32767, math.Round(v)))) }

func concat(parts ...[]int16) []int16 {
	var out []int16
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// mix adds b onto a (same length or shorter).
func mix(a, b []int16) []int16 {
	out := make([]int16, len(a))
	for i := range a {
		v := float64(a[i])
		if i < len(b) {
			v += float64(b[i])
		}
		out[i] = clip(v)
	}
	return out
}

// pcm encodes samples as PCM16 little-endian.
func pcm(samples []int16) []byte {
	out := make([]byte, 2*len(samples))
	for i, s := range samples {
		binary.LittleEndian.PutUint16(out[2*i:], uint16(s))
	}
	return out
}
