package stt

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/internal/audio/vad"
	"github.com/jetflow-dev/jetflow/internal/devkit/testplatform"
	"github.com/jetflow-dev/jetflow/internal/envconfig"
	"github.com/jetflow-dev/jetflow/internal/telemetry"
	"github.com/jetflow-dev/jetflow/internal/worker"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Config)
		reason string // empty: valid
	}{
		{name: "zero value", change: func(*Config) {}},
		{name: "test settings", change: func(c *Config) { *c = testConfig() }},
		{name: "negative concurrency", change: func(c *Config) { c.Concurrency = -1 }, reason: "concurrency -1 is outside [0, 10000]"},
		{name: "gap timeout above a minute", change: func(c *Config) { c.GapTimeout = 2 * time.Minute }, reason: "gap timeout 2m0s is outside [0, 1m]"},
		{name: "negative lease", change: func(c *Config) { c.PublishLease = -time.Second }, reason: "publish lease -1s is negative"},
		{name: "zero backoff entry", change: func(c *Config) { c.Backoff = []time.Duration{0} }, reason: "backoff entry 0s must be positive"},
		{name: "post-roll beyond min silence", change: func(c *Config) { c.VAD.MinSilence, c.VAD.PostRoll = 100*time.Millisecond, 200*time.Millisecond }, reason: "post-roll 200ms above min silence 100ms"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c Config
			tt.change(&c)
			err := c.Validate()
			if tt.reason == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.reason) {
				t.Fatalf("error %v, want one about %q", err, tt.reason)
			}
		})
	}
}

func TestConfigFromEnv(t *testing.T) {
	r := envconfig.New(envconfig.Map(map[string]string{
		"STT_CONCURRENCY":    "3",
		"STT_GAP_TIMEOUT":    "750ms",
		"STT_SWEEP_INTERVAL": "2s",
		"STT_PUBLISH_LEASE":  "1m",
		"STT_RETRY_BACKOFF":  "100ms, 1s",
		"VAD_THRESHOLD_DBFS": "-35",
		"VAD_MIN_SPEECH":     "150ms",
		"VAD_MIN_SILENCE":    "600ms",
		"VAD_MAX_SEGMENT":    "20s",
		"VAD_IDLE_TIMEOUT":   "3s",
		"VAD_PRE_ROLL":       "-1ms",
	}))
	c := ConfigFromEnv(r)
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	want := Config{
		Concurrency: 3, GapTimeout: 750 * time.Millisecond, SweepInterval: 2 * time.Second, PublishLease: time.Minute,
		Backoff: []time.Duration{100 * time.Millisecond, time.Second},
		VAD: vad.Config{Threshold: -35, MinSpeech: 150 * time.Millisecond, MinSilence: 600 * time.Millisecond,
			MaxSegment: 20 * time.Second, IdleTimeout: 3 * time.Second, PreRoll: -time.Millisecond, PostRoll: vad.DefaultPostRoll},
	}
	if c.Concurrency != want.Concurrency || c.GapTimeout != want.GapTimeout || c.SweepInterval != want.SweepInterval ||
		c.PublishLease != want.PublishLease || len(c.Backoff) != 2 || c.Backoff[1] != time.Second || c.VAD != want.VAD {
		t.Errorf("config %+v\nwant %+v", c, want)
	}
	if err := c.Validate(); err != nil {
		t.Error(err)
	}

	r = envconfig.New(envconfig.Map(map[string]string{"STT_GAP_TIMEOUT": "soon", "VAD_MIN_SILENCE": "100ms"}))
	ConfigFromEnv(r)
	err := r.Err()
	for _, problem := range []string{
		`STT_GAP_TIMEOUT: "soon" is not a duration`,
		"VAD_*: invalid vad config: post-roll 200ms above min silence 100ms", // the default post-roll
	} {
		if err == nil || !strings.Contains(err.Error(), problem) {
			t.Errorf("error %v does not say %s", err, problem)
		}
	}
}

func TestBuild(t *testing.T) {
	p := testplatform.New(t)
	ctx, js := p.Ctx, p.JS
	tel, err := telemetry.Setup(ctx, "stt-test", envconfig.Map(nil))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tel.Shutdown(context.Background()) })
	env := func(vars map[string]string) *worker.Env {
		return &worker.Env{Name: "stt-module", Log: slog.New(slog.DiscardHandler), Config: envconfig.New(envconfig.Map(vars)), JS: js, Telemetry: tel}
	}

	if _, err := Build(ctx, env(nil)); err == nil || !strings.Contains(err.Error(), "STT_URL: is required") {
		t.Errorf("Build without STT_URL: %v, want an error saying it is required", err)
	}
	// The transcription breaker is tuned by STT_BREAKER_*, read by Build.
	if _, err := Build(ctx, env(map[string]string{"STT_URL": "http://whisper:8000/v1", "STT_BREAKER_TIMEOUT": "-1s"})); err == nil ||
		!strings.Contains(err.Error(), "STT_BREAKER_TIMEOUT: -1s is outside") {
		t.Errorf("Build with a negative breaker timeout: %v, want an error saying STT_BREAKER_TIMEOUT is out of range", err)
	}
	runners, err := Build(ctx, env(map[string]string{"STT_URL": "http://whisper:8000/v1", "STT_CONCURRENCY": "2", "STT_BREAKER_FAILURES": "7"}))
	if err != nil {
		t.Fatal(err)
	}
	if len(runners) != 2 || runners[0].Name() != StageName || runners[1].Name() != SweeperName {
		t.Errorf("runners %v, want the stage and the sweeper", runners)
	}
}
