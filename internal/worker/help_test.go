package worker

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/jetflow-dev/jetflow/internal/envconfig"
)

func TestCommandAnswersWithoutRunning(t *testing.T) {
	cmd := Command{
		Name:    "demo-worker",
		Summary: "does one thing well.",
		Env:     []envconfig.Section{{Title: "Demo", Vars: []envconfig.Var{{Name: "DEMO_SIZE", Default: 3, Usage: "how many"}}}},
		Build:   func(context.Context, *Env) ([]Runner, error) { return nil, nil },
	}
	tests := []struct {
		name       string
		args       []string
		code       int
		run        bool
		stdout     []string
		stderr     string
		noStdout   bool
		emptyError bool
	}{
		{name: "no arguments runs", run: true, code: 7, noStdout: true, emptyError: true},
		{name: "--help", args: []string{"--help"}, stdout: []string{
			"demo-worker: does one thing well.", "DEMO_SIZE", "how many (default 3)", "NATS_URL", "HEALTH_ADDR", "Exit codes:",
		}, emptyError: true},
		{name: "-h", args: []string{"-h"}, stdout: []string{"DEMO_SIZE"}, emptyError: true},
		{name: "--version", args: []string{"--version"}, stdout: []string{"demo-worker ", "go1."}, emptyError: true},
		{name: "unknown flag", args: []string{"--verbose"}, code: ExitUsage, noStdout: true, stderr: "usage: demo-worker [--help | --version]"},
		{name: "argument", args: []string{"serve"}, code: ExitUsage, noStdout: true, stderr: `unexpected argument "serve"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			ran := false
			code := cmd.main(tt.args, &stdout, &stderr, func() int { ran = true; return 7 })
			if code != tt.code || ran != tt.run {
				t.Fatalf("exit code %d, ran %v; want %d, %v\nstdout:\n%s\nstderr:\n%s", code, ran, tt.code, tt.run, stdout.String(), stderr.String())
			}
			for _, want := range tt.stdout {
				if !strings.Contains(stdout.String(), want) {
					t.Errorf("stdout does not contain %q:\n%s", want, stdout.String())
				}
			}
			if tt.noStdout && stdout.Len() > 0 {
				t.Errorf("stdout = %q, want nothing", stdout.String())
			}
			if !strings.Contains(stderr.String(), tt.stderr) || tt.emptyError && stderr.Len() > 0 {
				t.Errorf("stderr = %q, want %q", stderr.String(), tt.stderr)
			}
		})
	}
}

// The shell's own variables are what settingsFromEnv, natsconn.FromEnv and telemetry.Setup read;
// integration/help_test.go checks that against a real Run. Here: the declarations are well formed.
func TestShellEnvNamesAreUniqueAndUpperCase(t *testing.T) {
	seen := map[string]bool{}
	for _, name := range envconfig.Names(append(append([]envconfig.Section(nil), ShellEnv...), RAGEnv...)...) {
		if seen[name] {
			t.Errorf("%s is declared twice", name)
		}
		seen[name] = true
		if name != strings.ToUpper(name) || strings.ContainsAny(name, " *") {
			t.Errorf("%q is not a variable name", name)
		}
	}
}

func TestWrap(t *testing.T) {
	got := wrap("aa bb cc dd", 5)
	if got != "aa bb\ncc dd" {
		t.Errorf("wrap = %q", got)
	}
}
