package voice

import (
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		bad  bool
	}{
		{name: "zero is the defaults", cfg: Config{}},
		{name: "negative concurrency", cfg: Config{AnswerConcurrency: -1}, bad: true},
		{name: "negative timeout", cfg: Config{SynthesizeTimeout: -time.Second}, bad: true},
		{name: "sample rate out of range", cfg: Config{SampleRate: 4000}, bad: true},
		{name: "odd chunk size splits a sample", cfg: Config{ChunkBytes: 1001}, bad: true},
		{name: "history off", cfg: Config{HistoryMessages: -1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if (err != nil) != tc.bad {
				t.Fatalf("Validate() = %v, want bad=%v", err, tc.bad)
			}
			if _, err := New(nil, Clients{}, tc.cfg); (err != nil) != tc.bad {
				t.Fatalf("New() = %v, want bad=%v", err, tc.bad)
			}
		})
	}
}
