package modelhttp

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/internal/envconfig"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr bool
	}{
		{name: "openai base with prefix", cfg: Config{BaseURL: "http://ray:8000/llm/v1"}},
		{name: "tei root with trailing slash", cfg: Config{BaseURL: "https://tei:8080/"}},
		{name: "empty", cfg: Config{}, wantErr: true},
		{name: "relative", cfg: Config{BaseURL: "/v1"}, wantErr: true},
		{name: "nats scheme", cfg: Config{BaseURL: "nats://x:4222"}, wantErr: true},
		{name: "query", cfg: Config{BaseURL: "http://x/v1?a=b"}, wantErr: true},
		{name: "negative timeout", cfg: Config{BaseURL: "http://x/v1", Timeout: -time.Second}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.cfg.Validate(); (err != nil) != tt.wantErr {
				t.Fatalf("Validate() = %v, wantErr %v", err, tt.wantErr)
			}
		})
	}
}

func TestConfigNeverPrintsSecrets(t *testing.T) {
	cfg := Config{BaseURL: "http://user:hunter2@ray:8000/llm/v1", Model: "m", APIKey: "sk-secret-key", Timeout: time.Second}
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("config", "llm", cfg)
	outputs := map[string]string{
		"String": cfg.String(),
		"%v":     fmt.Sprintf("%v", cfg),
		"%+v":    fmt.Sprintf("%+v", cfg),
		"%#v":    fmt.Sprintf("%#v", cfg),
		"%s ptr": fmt.Sprintf("%s", &cfg), //nolint:staticcheck // the %s verb on a pointer is what is tested
		"slog":   logs.String(),
	}
	for name, out := range outputs {
		if strings.Contains(out, "sk-secret-key") || strings.Contains(out, "hunter2") {
			t.Errorf("%s leaks a secret: %s", name, out)
		}
		if !strings.Contains(out, "ray:8000") {
			t.Errorf("%s lost the host: %s", name, out)
		}
	}
}

func TestFromEnv(t *testing.T) {
	defaults := Config{BaseURL: "http://default/v1", Model: "default-model", Timeout: 30 * time.Second}
	tests := []struct {
		name    string
		env     map[string]string
		want    Config
		wantErr string
	}{
		{name: "defaults", env: map[string]string{}, want: defaults},
		{
			name: "all set",
			env: map[string]string{
				"LLM_URL": "http://ray:8000/llm/v1/", "LLM_MODEL": "qwen", "LLM_API_KEY": "k", "LLM_TIMEOUT": "90s",
			},
			want: Config{BaseURL: "http://ray:8000/llm/v1", Model: "qwen", APIKey: "k", Timeout: 90 * time.Second},
		},
		{name: "bad timeout", env: map[string]string{"LLM_TIMEOUT": "soon"}, want: defaults, wantErr: "LLM_TIMEOUT"},
		{name: "bad url", env: map[string]string{"LLM_URL": "ray"}, want: defaults, wantErr: "LLM_URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := envconfig.New(envconfig.Map(tt.env))
			got := FromEnv(r, "LLM", defaults)
			if got != tt.want {
				t.Errorf("FromEnv = %v, want %v", got, tt.want)
			}
			err := r.Err()
			if tt.wantErr == "" && err != nil {
				t.Fatalf("unexpected error %v", err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("error %v does not name %s", err, tt.wantErr)
			}
		})
	}
}
