package vad

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr string // substring; empty means valid
	}{
		{name: "defaults", cfg: Config{SampleRate: 16000}},
		{name: "lowest rate", cfg: Config{SampleRate: 8000}},
		{name: "highest rate", cfg: Config{SampleRate: 48000}},
		{name: "no pre-roll or post-roll", cfg: Config{SampleRate: 16000, PreRoll: -1, PostRoll: -1}},
		{name: "adaptive", cfg: Config{SampleRate: 16000, NoiseMargin: 10}},
		{name: "no rate", cfg: Config{}, wantErr: "sample rate 0"},
		{name: "rate too high", cfg: Config{SampleRate: 96000}, wantErr: "sample rate 96000"},
		{name: "frame too short", cfg: Config{SampleRate: 16000, Frame: time.Millisecond}, wantErr: "frame 1ms"},
		{name: "positive threshold", cfg: Config{SampleRate: 16000, Threshold: 3}, wantErr: "threshold 3"},
		{name: "threshold too low", cfg: Config{SampleRate: 16000, Threshold: -130}, wantErr: "threshold -130"},
		{name: "negative margin", cfg: Config{SampleRate: 16000, NoiseMargin: -1}, wantErr: "noise margin"},
		{name: "post-roll above min silence", cfg: Config{SampleRate: 16000, PostRoll: time.Second}, wantErr: "post-roll 1s"},
		{name: "max segment too short", cfg: Config{SampleRate: 16000, MaxSegment: 400 * time.Millisecond}, wantErr: "max segment 400ms"},
		{name: "max segment within pre-roll", cfg: Config{SampleRate: 16000, MaxSegment: 2 * time.Second, PreRoll: 2 * time.Second}, wantErr: "max segment 2s"},
		{name: "negative idle", cfg: Config{SampleRate: 16000, IdleTimeout: -time.Second}, wantErr: "idle timeout"},
		{name: "every problem named", cfg: Config{SampleRate: 1, Threshold: 5}, wantErr: "sample rate 1 Hz outside 8000..48000; threshold 5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate = %v, want nil", err)
				}
				if _, err := New(tt.cfg); err != nil {
					t.Fatalf("New = %v, want a detector", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Validate = %v, want ErrInvalidConfig mentioning %q", err, tt.wantErr)
			}
			if _, err := New(tt.cfg); !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("New = %v, want ErrInvalidConfig", err)
			}
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	got := Config{SampleRate: 16000}.WithDefaults()
	want := Config{
		SampleRate: 16000, Frame: 20 * time.Millisecond, Threshold: -40, NoiseRise: 5 * time.Second,
		PreRoll: 300 * time.Millisecond, PostRoll: 200 * time.Millisecond, MinSpeech: 250 * time.Millisecond,
		MinSilence: 500 * time.Millisecond, MaxSegment: 30 * time.Second, IdleTimeout: 2 * time.Second,
	}
	if got != want {
		t.Fatalf("WithDefaults = %+v, want %+v", got, want)
	}
}

func TestSamplesAndDuration(t *testing.T) {
	cfg := Config{SampleRate: 44100}
	if got := cfg.Samples(20 * time.Millisecond); got != 882 {
		t.Errorf("Samples(20ms) = %d, want 882", got)
	}
	if got := cfg.Duration(44100 * 3600 * 100); got != 100*time.Hour {
		t.Errorf("Duration(100h of samples) = %v, want 100h", got)
	}
}
