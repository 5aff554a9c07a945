package vad

import (
	"math"
	"testing"
	"time"
)

func TestLevel(t *testing.T) {
	const rate = 16000
	tests := []struct {
		name    string
		samples []int16
		want    float64
	}{
		{name: "digital silence", samples: silence(rate, 20*time.Millisecond), want: floorDB},
		{name: "sine at -20 dBFS", samples: tone(rate, 500, -20, 20*time.Millisecond), want: -20},
		{name: "sine at -40 dBFS", samples: tone(rate, 500, -40, 20*time.Millisecond), want: -40},
		{name: "full-scale square", samples: square(320), want: 0},
		{name: "empty frame", samples: nil, want: floorDB},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := level(pcm(tt.samples)); math.Abs(got-tt.want) > 0.1 {
				t.Fatalf("level = %.2f dBFS, want %.2f", got, tt.want)
			}
		})
	}
}

func square(n int) []int16 {
	out := make([]int16, n)
	for i := range out {
		out[i] = -32768
	}
	return out
}
