package stage

import (
	"testing"
	"time"
)

func TestConfigValidation(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{name: "minimal", cfg: Config{Name: "chat-retrieve", Stream: "AI_CHAT", Consumer: "chat-retrieve"}, ok: true},
		{name: "dotted name", cfg: Config{Name: "chat.retrieve", Stream: "S", Consumer: "c"}},
		{name: "no consumer", cfg: Config{Name: "x", Stream: "S"}},
		{name: "negative concurrency", cfg: Config{Name: "x", Stream: "S", Consumer: "c", Concurrency: -1}},
		{name: "zero backoff", cfg: Config{Name: "x", Stream: "S", Consumer: "c", Backoff: []time.Duration{0}}},
		{name: "tiny fetch wait", cfg: Config{Name: "x", Stream: "S", Consumer: "c", FetchWait: time.Millisecond}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.cfg.Validate(); (err == nil) != tt.ok {
				t.Fatalf("Validate() = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}
