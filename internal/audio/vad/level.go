package vad

import "math"

// fullScale is the magnitude of the most negative 16-bit sample; levels are relative to it.
const fullScale = 32768.0

// level returns the RMS level of a frame of PCM16 little-endian samples in dBFS, clamped to
// floorDB (digital silence has no finite level).
func level(frame []byte) float64 {
	n := len(frame) / 2
	if n == 0 {
		return floorDB
	}
	var sum int64 // at most 4800 samples * 2^30: no overflow
	for i := 0; i+1 < len(frame); i += 2 {
		v := int64(int16(uint16(frame[i]) | uint16(frame[i+1])<<8))
		sum += v * v
	}
	if sum == 0 {
		return floorDB
	}
	db := 10 * math.Log10(float64(sum)/float64(n)/(fullScale*fullScale))
	return max(db, floorDB)
}
