package cli

import (
	"context"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/jetflow-dev/jetflow/cmd/jetflow/internal/client"
	"github.com/jetflow-dev/jetflow/cmd/jetflow/internal/devplatform"
	"github.com/jetflow-dev/jetflow/internal/devkit/syncbuf"
)

func TestVersionNeedsNoServer(t *testing.T) {
	for _, arg := range []string{"--version", "version"} {
		var out, errs syncbuf.Buffer
		t.Setenv("NATS_URL", "nats://127.0.0.1:1") // nothing listens there
		if code := Main(context.Background(), []string{arg}, strings.NewReader(""), &out, &errs); code != 0 {
			t.Fatalf("%s exited %d: %s", arg, code, errs.String())
		}
		if got := out.String(); !strings.HasPrefix(got, "jetflow ") || !strings.Contains(got, "github.com/jetflow-dev/jetflow") || !strings.Contains(got, runtime.Version()) {
			t.Fatalf("%s printed:\n%s", arg, got)
		}
	}
}

// Every command answers --help on stdout with what it does, and exits 0.
func TestHelpOfEveryCommand(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string // the help's first words
	}{
		{[]string{"--help"}, "jetflow: operate jetflow"}, {[]string{"-h"}, "jetflow: operate jetflow"}, {[]string{"help"}, "jetflow: operate jetflow"},
		{[]string{"streams", "--help"}, "jetflow: operate jetflow"},
		{[]string{"streams", "apply", "--help"}, "jetflow streams apply"}, {[]string{"streams", "diff", "-h"}, "jetflow streams diff"},
		{[]string{"dev", "--help"}, "jetflow dev"},
		{[]string{"dlq", "--help"}, "jetflow dlq"}, {[]string{"dlq", "ls", "--help"}, "jetflow dlq ls"},
		{[]string{"dlq", "show", "--help"}, "jetflow dlq show"}, {[]string{"dlq", "replay", "--help"}, "jetflow dlq replay"},
		{[]string{"dlq", "purge", "--help"}, "jetflow dlq purge"},
		{[]string{"chat", "--help"}, "jetflow chat"}, {[]string{"say", "-h"}, "jetflow say"},
		{[]string{"transcribe", "--help"}, "jetflow transcribe"},
		{[]string{"pipeline", "--help"}, "jetflow pipeline start"}, {[]string{"pipeline", "start", "--help"}, "jetflow pipeline start"},
	} {
		var out, errs syncbuf.Buffer
		code := Main(context.Background(), tt.args, strings.NewReader(""), &out, &errs)
		if code != 0 || errs.String() != "" || !strings.HasPrefix(out.String(), tt.want) {
			t.Errorf("%q: exit %d, stderr %q, help starts %q; want exit 0 and %q", tt.args, code, errs.String(), firstLine(out.String()), tt.want)
		}
	}
}

func TestExitCodes(t *testing.T) {
	t.Setenv("NATS_URL", "nats://127.0.0.1:1")
	t.Setenv("NATS_CONNECT_TIMEOUT", "200ms")
	for _, tt := range []struct {
		args    []string
		code    int
		message string
	}{
		{nil, 2, "no command given"},
		{[]string{"bogus"}, 2, `unknown command "bogus"`},
		{[]string{"streams"}, 2, "streams needs apply or diff"},
		{[]string{"streams", "apply", "--replicas", "x"}, 2, "see jetflow streams apply --help"},
		{[]string{"dlq", "ls", "--kind", "odd"}, 2, "--kind"},
		{[]string{"dlq", "replay"}, 2, "replay needs a selection"},
		{[]string{"dlq", "purge", "--all"}, 2, "pass --yes"},
		{[]string{"dlq", "ls"}, 1, "connecting to NATS"},
		{[]string{"chat"}, 2, "jetflow chat needs a question"},
		{[]string{"chat", "--gateway", "nats://x", "hi"}, 2, "is not an http:// or https:// URL"},
		{[]string{"say", "hello"}, 2, "needs -o FILE.wav"},
		{[]string{"transcribe"}, 2, "takes one WAV file"},
		{[]string{"pipeline", "start", "Bad_Name"}, 2, "must match [a-z0-9-]{1,63}"},
		{[]string{"pipeline", "start", "reindex", "novalue"}, 2, "is not KEY=VALUE"},
		{[]string{"chat", "--gateway", "http://127.0.0.1:1", "hi"}, 1, "cannot reach the gateway at http://127.0.0.1:1"},
	} {
		var out, errs syncbuf.Buffer
		code := Main(context.Background(), tt.args, strings.NewReader(""), &out, &errs)
		if code != tt.code || !strings.Contains(errs.String(), tt.message) {
			t.Errorf("%q: exit %d, stderr %q; want exit %d and %q", tt.args, code, errs.String(), tt.code, tt.message)
		}
	}
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// A command that prints its own errors and picks its exit code (jetflow status) keeps it.
func TestExitWithKeepsTheCommandsCode(t *testing.T) {
	var errs syncbuf.Buffer
	for code := range 4 {
		if got := exitCode(exitWith(code), &errs); got != code {
			t.Errorf("exitWith(%d) exits %d", code, got)
		}
	}
	if errs.String() != "" {
		t.Errorf("exitWith printed %q; the command prints its own errors", errs.String())
	}
}

func TestVersionShowsTheVCSStamp(t *testing.T) {
	var out strings.Builder
	writeVersion(&out, &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Path: "github.com/jetflow-dev/jetflow", Version: "v1.2.3"},
		Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "abc123"}, {Key: "vcs.time", Value: "2026-12-03T10:00:00Z"}, {Key: "vcs.modified", Value: "true"}}}, true)
	for _, want := range []string{"jetflow v1.2.3\n", "revision  abc123 (modified)", "time      2026-12-03T10:00:00Z", "go        go1.26.0"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("version lacks %q:\n%s", want, out.String())
		}
	}
}

// The client commands look for the development key where jetflow dev, with its default --data,
// writes it.
func TestDevKeyPathAgrees(t *testing.T) {
	if want := filepath.Join(devDataDefault, devplatform.DevKeyFile); client.DevKeyPath != want {
		t.Errorf("client.DevKeyPath %q, jetflow dev writes %q", client.DevKeyPath, want)
	}
}

// jetflow dev refuses a JETFLOW_DEV_GATEWAY_PORT that is not a port before starting anything.
func TestDevRefusesABadGatewayPortVariable(t *testing.T) {
	for _, v := range []string{"x", "70000", "-2"} {
		t.Setenv("JETFLOW_DEV_GATEWAY_PORT", v)
		var out, errs syncbuf.Buffer
		code := Main(context.Background(), []string{"dev", "--data", t.TempDir()}, strings.NewReader(""), &out, &errs)
		if code != 2 || !strings.Contains(errs.String(), "JETFLOW_DEV_GATEWAY_PORT") {
			t.Errorf("JETFLOW_DEV_GATEWAY_PORT=%s: exit %d, stderr %q; want exit 2 naming the variable", v, code, errs.String())
		}
	}
}
