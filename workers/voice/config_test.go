package voice

import (
	"strings"
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		// problem is what the error says; empty means valid.
		problem string
	}{
		{name: "zero is the defaults", cfg: Config{}},
		{name: "negative concurrency", cfg: Config{AnswerConcurrency: -1}, problem: "AnswerConcurrency -1 is outside [0, 10000]"},
		{name: "negative timeout", cfg: Config{SynthesizeTimeout: -time.Second}, problem: "SynthesizeTimeout -1s is negative"},
		{name: "sample rate out of range", cfg: Config{SampleRate: 4000}, problem: "SampleRate 4000 is outside [8000, 48000]"},
		{name: "odd chunk size splits a sample", cfg: Config{ChunkBytes: 1001}, problem: "ChunkBytes 1001 must be even"},
		{name: "history off", cfg: Config{HistoryMessages: -1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			check := func(call string, err error) {
				t.Helper()
				switch {
				case tc.problem == "" && err != nil:
					t.Fatalf("%s = %v, want no error", call, err)
				case tc.problem != "" && (err == nil || !strings.Contains(err.Error(), tc.problem)):
					t.Fatalf("%s = %v, want an error saying %q", call, err, tc.problem)
				}
			}
			check("Validate()", tc.cfg.Validate())
			_, err := New(nil, Clients{}, Breakers{}, tc.cfg, nil)
			check("New()", err)
		})
	}
}
