package breaker

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/internal/envconfig"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		s       Settings
		wantErr string
	}{
		{name: "zero value", s: Settings{}},
		{name: "all set", s: Settings{MaxRequests: 2, Interval: time.Minute, Timeout: time.Second,
			ConsecutiveFailures: 3}},
		{name: "negative timeout", s: Settings{Timeout: -time.Second}, wantErr: "timeout -1s is negative"},
		{name: "negative interval", s: Settings{Interval: -time.Second}, wantErr: "interval -1s is negative"},
		{name: "both negative", s: Settings{Interval: -time.Second, Timeout: -time.Minute},
			wantErr: "interval -1s is negative; timeout -1m0s is negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.s.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate = %v", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidSettings) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Validate = %v, want ErrInvalidSettings saying %q", err, tt.wantErr)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	got := Settings{}.withDefaults("chat", LLM)
	want := Settings{Name: "chat/llm", MaxRequests: 1, Interval: 60 * time.Second, Timeout: 30 * time.Second,
		ConsecutiveFailures: 5}
	if got != want {
		t.Fatalf("defaults = %+v, want %+v", got, want)
	}
}

func TestSettingsFromEnv(t *testing.T) {
	def := Settings{Name: "kept", ConsecutiveFailures: 5, Timeout: 30 * time.Second}
	tests := []struct {
		name    string
		prefix  string
		env     map[string]string
		want    Settings
		wantErr string
	}{
		{name: "unset keeps defaults", prefix: "CHAT", want: def},
		{
			name:   "all set",
			prefix: "CHAT",
			env: map[string]string{"CHAT_BREAKER_FAILURES": "3", "CHAT_BREAKER_TIMEOUT": "10s",
				"CHAT_BREAKER_PROBES": "2", "CHAT_BREAKER_INTERVAL": "2m"},
			want: Settings{Name: "kept", ConsecutiveFailures: 3, Timeout: 10 * time.Second, MaxRequests: 2,
				Interval: 2 * time.Minute},
		},
		{
			name:   "empty prefix",
			env:    map[string]string{"BREAKER_FAILURES": "7"},
			want:   Settings{Name: "kept", ConsecutiveFailures: 7, Timeout: 30 * time.Second},
			prefix: "",
		},
		{
			name:    "bad values are named",
			prefix:  "STT",
			env:     map[string]string{"STT_BREAKER_FAILURES": "0", "STT_BREAKER_TIMEOUT": "soon"},
			want:    def,
			wantErr: "STT_BREAKER_FAILURES",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := envconfig.New(envconfig.Map(tt.env))
			got := SettingsFromEnv(r, tt.prefix, def)
			if got != tt.want {
				t.Errorf("settings = %+v, want %+v", got, tt.want)
			}
			err := r.Err()
			if tt.wantErr == "" && err != nil {
				t.Fatalf("Err = %v", err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr) ||
				!strings.Contains(err.Error(), "STT_BREAKER_TIMEOUT")) {
				t.Fatalf("Err = %v, want it to name every bad variable", err)
			}
		})
	}
}
