package integration

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/internal/devkit/bench"
	"github.com/jetflow-dev/jetflow/internal/devkit/standin"
	"github.com/jetflow-dev/jetflow/internal/devkit/testplatform"
	"github.com/jetflow-dev/jetflow/internal/envconfig"
	"github.com/jetflow-dev/jetflow/internal/gateway"
	"github.com/jetflow-dev/jetflow/internal/gateway/auth"
	"github.com/jetflow-dev/jetflow/internal/worker"
	"github.com/jetflow-dev/jetflow/platform"
	"github.com/jetflow-dev/jetflow/workers/chat"
	"github.com/jetflow-dev/jetflow/workers/pipeline"
	"github.com/jetflow-dev/jetflow/workers/stt"
	"github.com/jetflow-dev/jetflow/workers/tts"
	"github.com/jetflow-dev/jetflow/workers/voice"
)

// workerEnvs are the variables each worker declares besides the shell's, as its cmd/ passes
// them to worker.Command. A worker added to platform.All without an entry here fails the tests.
var workerEnvs = map[string][]envconfig.Section{
	"chat-handler":    chat.Env,
	"tts-module":      tts.Env,
	"voice-assistant": voice.Env,
	"stt-module":      stt.Env,
	"pipeline-bridge": pipeline.Env,
	"gateway":         gateway.CommandEnv,
}

// declared returns what the binary name's --help lists, as Go data.
func declared(t *testing.T, name string) []envconfig.Section {
	t.Helper()
	switch name {
	case "standin-models":
		return standin.Env
	case "jetflow-bench":
		return bench.Env
	}
	env, ok := workerEnvs[name]
	if !ok {
		t.Fatalf("worker %s declares no variables in workerEnvs: add its Env", name)
	}
	return worker.Command{Name: name, Env: env}.Sections()
}

// binaries are the eight binaries whose --help this file checks; cmd/jetflow has its own CLI
// tests.
func binaries() []string {
	return append(platform.Names(), "gateway", "standin-models", "jetflow-bench")
}

// gatewayCommand is cmd/gateway as a platform.Worker, for building it as its binary does.
var gatewayCommand = platform.Worker{Name: "gateway", Build: gateway.Build(gateway.Authentication, gateway.ServePage)}

// recorder is a Lookup that remembers every variable name looked up through it.
type recorder struct {
	next envconfig.Lookup
	mu   sync.Mutex
	read map[string]bool
}

func newRecorder(env map[string]string) *recorder {
	return &recorder{next: envconfig.Map(env), read: map[string]bool{}}
}

func (r *recorder) lookup(name string) (string, bool) {
	r.mu.Lock()
	r.read[name] = true
	r.mu.Unlock()
	return r.next(name)
}

func (r *recorder) names() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Sorted(maps.Keys(r.read))
}

// errBuilt ends worker.Run once the worker's Build has returned: by then every variable has
// been read, and nothing needs to run.
var errBuilt = errors.New("built: every variable has been read")

// scenario is one environment a worker is built in. Some variables are read only on some
// paths (Milvus only with MILVUS_ADDR, the Kubernetes client only for Argo pipelines), so each
// worker is built in as many environments as it takes to read them all: the test fails when a
// declared variable is read by none of them.
type scenario struct {
	name string
	env  map[string]string
	// fails says Build is expected to fail (after reading what the scenario is for), so only
	// what it read counts.
	fails bool
}

func scenarios(t *testing.T, name string) []scenario {
	t.Helper()
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	// A kubeconfig is enough to build the Argo client; nothing connects to the server.
	if err := os.WriteFile(kubeconfig, []byte(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
users: [{name: u, user: {token: t}}]
current-context: c
`), 0o600); err != nil {
		t.Fatal(err)
	}
	// Milvus is configured without a collection: its settings are all read, then Build stops
	// on the missing one, before it would connect.
	milvus := map[string]string{"MILVUS_ADDR": "127.0.0.1:1"}
	switch name {
	case "chat-handler", "voice-assistant":
		return []scenario{{name: "in-memory retriever"}, {name: "milvus", env: milvus, fails: true}}
	case "gateway":
		keys := filepath.Join(t.TempDir(), "keys.json")
		if err := os.WriteFile(keys, []byte(`{"callers": [{"name": "help", "key_sha256": "`+auth.HashKey("help-test-key")+`", "services": ["*"]}]}`), 0o600); err != nil {
			t.Fatal(err)
		}
		return []scenario{{name: "key file", env: map[string]string{"GATEWAY_KEYS_FILE": keys, "GATEWAY_ADDR": "127.0.0.1:0"}}}
	case "pipeline-bridge":
		return []scenario{
			{name: "kfp"},
			{name: "argo", env: map[string]string{
				"PIPELINES_JSON": `{"pipelines":{"ingest":{"backend":"argo","template":"ingest"}}}`,
				"KUBECONFIG":     kubeconfig,
			}},
		}
	}
	return []scenario{{name: "defaults"}}
}

// readByBuild builds the worker through worker.Run, as its binary would, in each of its
// scenarios, and returns every variable name it looked up.
func readByBuild(t *testing.T, w platform.Worker, natsURL, modelsURL string) []string {
	t.Helper()
	read := map[string]bool{}
	for _, sc := range scenarios(t, w.Name) {
		env := map[string]string{}
		for _, kv := range workerEnv(natsURL, modelsURL) {
			k, v, _ := strings.Cut(kv, "=")
			env[k] = v
		}
		maps.Copy(env, sc.env)
		rec := newRecorder(env)
		var buildErr error
		build := func(ctx context.Context, e *worker.Env) ([]worker.Runner, error) {
			_, buildErr = w.Build(ctx, e)
			if buildErr == nil {
				buildErr = e.Config.Err()
			}
			return nil, errBuilt
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		err := worker.Run(ctx, w.Name, rec.lookup, slog.New(slog.DiscardHandler), build)
		cancel()
		if !errors.Is(err, errBuilt) {
			t.Fatalf("%s, %s: Run stopped before Build: %v", w.Name, sc.name, err)
		}
		if (buildErr != nil) != sc.fails {
			t.Fatalf("%s, %s: Build returned %v, want an error: %v", w.Name, sc.name, buildErr, sc.fails)
		}
		for _, n := range rec.names() {
			read[n] = true
		}
	}
	return slices.Sorted(maps.Keys(read))
}

// The help stays true: every variable a binary reads is in its --help, and every variable its
// --help lists (but those a library reads from the process environment itself) is read. The
// workers are built through worker.Run against an embedded JetStream and the stand-in models,
// with a Lookup that records each name asked for.
func TestHelpListsEveryVariableABinaryReads(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binaries")
	}
	p := testplatform.New(t)
	models, err := standin.New(standin.Config{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	modelSrv := httptest.NewServer(models)
	t.Cleanup(modelSrv.Close)

	for _, w := range platform.All {
		t.Run(w.Name, func(t *testing.T) {
			checkHelpIsTrue(t, w.Name, readByBuild(t, w, p.URL(), modelSrv.URL))
		})
	}
	t.Run("gateway", func(t *testing.T) {
		checkHelpIsTrue(t, "gateway", readByBuild(t, gatewayCommand, p.URL(), modelSrv.URL))
	})
	t.Run("standin-models", func(t *testing.T) {
		rec := newRecorder(nil)
		if _, err := standin.FromEnv(rec.lookup); err != nil {
			t.Fatal(err)
		}
		checkHelpIsTrue(t, "standin-models", rec.names())
	})
	t.Run("jetflow-bench", func(t *testing.T) {
		rec := newRecorder(nil)
		if code := bench.Command(t.Context(), []string{"-h"}, io.Discard, io.Discard, rec.lookup); code != 0 {
			t.Fatalf("jetflow-bench -h exited %d", code)
		}
		checkHelpIsTrue(t, "jetflow-bench", rec.names())
	})
}

// checkHelpIsTrue compares what the binary name read with what its --help says.
func checkHelpIsTrue(t *testing.T, name string, read []string) {
	t.Helper()
	help := runHelp(t, buildBinary(t, name))
	for _, v := range read {
		if !mentions(help, v) {
			t.Errorf("%s reads %s, but its --help does not list it: declare it in its Env", name, v)
		}
	}
	for _, s := range declared(t, name) {
		for _, v := range s.Vars {
			if v.ReadBy == "" && !slices.Contains(read, v.Name) {
				t.Errorf("%s --help lists %s, but nothing read it: remove it, or give the test a scenario that reads it", name, v.Name)
			}
		}
	}
}

// runHelp returns what bin --help prints (stdout and stderr: jetflow-bench prints its help on
// stderr, as the flag package does).
func runHelp(t *testing.T, bin string) string {
	t.Helper()
	res := runBinary(t, bin, []string{}, "--help")
	if res.code != 0 {
		t.Fatalf("%s --help exited %d:\n%s%s", bin, res.code, res.stdout, res.stderr)
	}
	return res.stdout + res.stderr
}

func mentions(text, name string) bool {
	return regexp.MustCompile(`\b` + regexp.QuoteMeta(name) + `\b`).MatchString(text)
}

type result struct {
	code           int
	stdout, stderr string
}

// runBinary runs bin with args and only env (not this process's), and fails the test unless it exits within a few
// seconds: --help and --version must not start anything.
func runBinary(t *testing.T, bin string, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("%s %s did not return within 10s: it started instead of answering\n%s%s", bin, strings.Join(args, " "), stdout.String(), stderr.String())
	}
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("running %s: %v", bin, err)
	}
	return result{code: cmd.ProcessState.ExitCode(), stdout: stdout.String(), stderr: stderr.String()}
}

// Every binary answers --help (what it does, each variable it declares, its exit codes) and
// --version (its name and the Go version) at once, without starting: the health and listen
// addresses point at a port this test holds and NATS at nothing, so a binary that started
// would fail or hang instead of exiting 0. An unknown flag exits 2 with a usage line.
func TestEveryBinaryAnswersHelpAndVersionWithoutStarting(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binaries")
	}
	held, err := (&net.ListenConfig{}).Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = held.Close() })
	env := []string{
		"HEALTH_ADDR=" + held.Addr().String(),
		"STANDIN_ADDR=" + held.Addr().String(),
		"NATS_URL=nats://127.0.0.1:1",
	}
	for _, name := range binaries() {
		t.Run(name, func(t *testing.T) {
			bin := buildBinary(t, name)

			help := runBinary(t, bin, env, "--help")
			if help.code != 0 {
				t.Fatalf("--help exited %d:\n%s%s", help.code, help.stdout, help.stderr)
			}
			text := help.stdout + help.stderr
			for _, v := range envconfig.Names(declared(t, name)...) {
				if !mentions(text, v) {
					t.Errorf("--help does not mention %s", v)
				}
			}
			for _, want := range []string{"Exit codes", "  0  ", "  1  ", "  2  "} {
				if !strings.Contains(text, want) {
					t.Errorf("--help does not state the exit codes (no %q):\n%s", want, text)
				}
			}
			if name != "jetflow-bench" && help.stderr != "" {
				t.Errorf("--help wrote to stderr (did it start?):\n%s", help.stderr)
			}

			version := runBinary(t, bin, env, "--version")
			if version.code != 0 || !strings.HasPrefix(version.stdout, name+" ") || !strings.Contains(version.stdout, " go1.") {
				t.Errorf("--version exited %d, want 0 and the name and Go version:\n%s%s", version.code, version.stdout, version.stderr)
			}

			unknown := runBinary(t, bin, env, "--no-such-flag")
			if unknown.code != 2 || !strings.Contains(unknown.stderr, "usage: "+name) {
				t.Errorf("--no-such-flag exited %d, want 2 and a usage line on stderr:\n%s%s", unknown.code, unknown.stdout, unknown.stderr)
			}
		})
	}
}
