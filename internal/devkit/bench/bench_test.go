package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// The whole benchmark with -short settings: it must run and report a row for every scenario.
// Speed is not asserted; the numbers of a short run under the race detector mean nothing.
func TestShortRunReportsEveryScenario(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	report, err := Run(ctx, Config{Short: true, StoreDir: t.TempDir(), WorkerBin: workerBin(t)})
	if err != nil {
		t.Fatal(err)
	}
	byScenario := map[string][]Row{}
	for _, r := range report.Rows {
		byScenario[r.Scenario] = append(byScenario[r.Scenario], r)
		if strings.HasPrefix(r.Status, "error") {
			t.Errorf("scenario %s %q: %s", r.Scenario, r.Case, r.Status)
		}
	}
	if got, want := len(byScenario["1"]), 2*len(DefaultPayloads()); got != want {
		t.Errorf("scenario 1 has %d rows, want %d (throughput and CPU per payload)", got, want)
	}
	if got := len(byScenario["2"]); got != 2 {
		t.Errorf("scenario 2 has %d rows, want 2 (p50, p99)", got)
	}
	for _, r := range slices.Concat(byScenario["1"], byScenario["2"]) {
		if r.Jetflow <= 0 || r.Bare <= 0 || r.Ratio <= 0 {
			t.Errorf("scenario %s %s %s: jetflow %v, bare %v, ratio %v; want all measured", r.Scenario, r.Case, r.Metric, r.Jetflow, r.Bare, r.Ratio)
		}
	}
	for id, want := range map[string]int{"3": 3, "4": len(scaleOutCounts(Config{Short: true})), "5": 2, "6": 5} {
		rows := byScenario[id]
		if len(rows) != want {
			t.Errorf("scenario %s has %d rows, want %d: %+v", id, len(rows), want, rows)
		}
		for _, r := range rows {
			if r.Jetflow <= 0 {
				t.Errorf("scenario %s %s %s: jetflow %v, want measured", r.Scenario, r.Case, r.Metric, r.Jetflow)
			}
		}
	}

	var md bytes.Buffer
	if err := report.WriteMarkdown(&md); err != nil {
		t.Fatal(err)
	}
	lines := 0
	for _, l := range strings.Split(md.String(), "\n") {
		if strings.HasPrefix(l, "| ") {
			lines++
		}
	}
	if lines != len(report.Rows)+1 {
		t.Errorf("table has %d row lines, want %d:\n%s", lines, len(report.Rows)+1, md.String())
	}
	path := filepath.Join(t.TempDir(), "bench", "results.json")
	if err := report.WriteJSONFile(path); err != nil {
		t.Fatal(err)
	}
	var back Report
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if len(back.Rows) != len(report.Rows) || back.Settings.Concurrency != defaultConcurrency {
		t.Errorf("JSON round trip: %d rows, concurrency %d", len(back.Rows), back.Settings.Concurrency)
	}
}

func TestMainCommand(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		code     int
		stdout   string
		stderr   string
		wantJSON bool
	}{
		{name: "footprint only", args: []string{"-short", "-scenarios", "rss", "-worker-bin", "WORKER"}, stdout: "| 5 | chat worker footprint under load |", wantJSON: true},
		{name: "help", args: []string{"-h"}, stderr: "-concurrency"},
		{name: "unknown scenario", args: []string{"-scenarios", "7"}, code: 2, stderr: `unknown scenario "7"`},
		{name: "bad payload", args: []string{"-payloads", "1x"}, code: 2, stderr: `payload size "1x"`},
		{name: "payload too large", args: []string{"-payloads", "2048k"}, code: 2, stderr: "outside"},
		{name: "stray argument", args: []string{"now"}, code: 2, stderr: "unexpected arguments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "results.json")
			var stdout, stderr bytes.Buffer
			if i := slices.Index(tt.args, "WORKER"); i >= 0 {
				tt.args[i] = workerBin(t)
			}
			code := Main(context.Background(), append(tt.args, "-out", out, "-store", t.TempDir()), &stdout, &stderr)
			if code != tt.code {
				t.Fatalf("exit code %d, want %d; stderr:\n%s", code, tt.code, stderr.String())
			}
			if !strings.Contains(stdout.String(), tt.stdout) {
				t.Errorf("stdout does not contain %q:\n%s", tt.stdout, stdout.String())
			}
			if !strings.Contains(stderr.String(), tt.stderr) {
				t.Errorf("stderr does not contain %q:\n%s", tt.stderr, stderr.String())
			}
			_, err := os.Stat(out)
			if tt.wantJSON != (err == nil) {
				t.Errorf("results file written = %v, want %v", err == nil, tt.wantJSON)
			}
		})
	}
}

func TestParseFlags(t *testing.T) {
	cfg, opts, err := parseFlags([]string{"-concurrency", "4", "-payloads", "256, 1k,4KiB", "-duration", "3s", "-rounds", "5", "-scenarios", "1,latency", "-out", "x.json"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Concurrency != 4 || !slices.Equal(cfg.Payloads, []int{256, 1024, 4096}) || cfg.Duration != 3*time.Second ||
		cfg.Rounds != 5 || !slices.Equal(cfg.Scenarios, []string{"1", "latency"}) || opts.out != "x.json" {
		t.Errorf("parsed %+v, %+v", cfg, opts)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string // substring of the error; "" = valid
	}{
		{name: "zero value", cfg: Config{}},
		{name: "scenario by name and number", cfg: Config{Scenarios: []string{"overhead", "2", "E2E"}}},
		{name: "unknown scenario", cfg: Config{Scenarios: []string{"warp"}}, want: `unknown scenario "warp"`},
		{name: "negative concurrency", cfg: Config{Concurrency: -1}, want: "concurrency -1"},
		{name: "payload too small", cfg: Config{Payloads: []int{8}}, want: "payload size 8"},
		{name: "payload over max", cfg: Config{Payloads: []int{1 << 20}}, want: "payload size 1048576"},
		{name: "payload with no exact encoding", cfg: Config{Payloads: []int{256, 130}}, want: "payload size 130 cannot be encoded exactly; use 129 or 131"},
		{name: "larger payload with no exact encoding", cfg: Config{Payloads: []int{16387}}, want: "use 16386 or 16388"},
		{name: "negative rate", cfg: Config{Rate: -5}, want: "rate -5"},
		{name: "negative duration", cfg: Config{Duration: -time.Second}, want: "duration -1s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate() = %v, want an error with %q", err, tt.want)
			}
		})
	}
}

// Validate accepts exactly the payload sizes request can build, so a run never fails on one
// after it has started.
func TestValidateAcceptsExactlyTheEncodableSizes(t *testing.T) {
	var sizes []int
	for _, r := range [][2]int{{minPayloadSize - 2, 300}, {16300, 16500}, {maxPayloadSize - 2, maxPayloadSize}} {
		for size := r[0]; size <= r[1]; size++ {
			sizes = append(sizes, size)
		}
	}
	rejected := 0
	for _, size := range sizes {
		validErr := Config{Payloads: []int{size}}.Validate()
		data, reqErr := request(size)
		if (validErr == nil) != (reqErr == nil) {
			t.Errorf("size %d: Validate() = %v but request() = %v", size, validErr, reqErr)
		}
		if reqErr == nil && len(data) != size {
			t.Errorf("request(%d) gave %d bytes", size, len(data))
		}
		if validErr != nil && size >= minPayloadSize && size <= maxPayloadSize {
			rejected++
		}
	}
	if rejected != 2 { // 130 and 16387
		t.Errorf("%d sizes in range rejected, want 2", rejected)
	}
}

func TestMessagesFor(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		payload int
		want    int
	}{
		{name: "small payload is capped by max messages", cfg: Config{}, payload: 256, want: defaultMaxMessages},
		{name: "budget decides", cfg: Config{}, payload: 4 << 10, want: 16384},
		{name: "large payload keeps the floor", cfg: Config{}, payload: 512 << 10, want: 20 * defaultConcurrency},
		{name: "short floor", cfg: Config{Short: true}, payload: 512 << 10, want: 2 * defaultConcurrency},
		{name: "short cap", cfg: Config{Short: true}, payload: 256, want: shortMaxMessages},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.cfg.withDefaults().messagesFor(tt.payload); got != tt.want {
				t.Errorf("messagesFor(%d) = %d, want %d", tt.payload, got, tt.want)
			}
		})
	}
}

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want int
		ok   bool
	}{
		{in: "256", want: 256, ok: true},
		{in: "1k", want: 1024, ok: true},
		{in: " 64KiB ", want: 64 << 10, ok: true},
		{in: "512K", want: 512 << 10, ok: true},
		{in: "4kb", want: 4096, ok: true},
		{in: "1m"},
		{in: "-3"},
		{in: ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseSize(tt.in)
			if (err == nil) != tt.ok || got != tt.want {
				t.Errorf("parseSize(%q) = %d, %v; want %d, ok %v", tt.in, got, err, tt.want, tt.ok)
			}
		})
	}
}

func TestScenarioNames(t *testing.T) {
	for _, s := range Scenarios() {
		if got := lookupScenario(s.ID()); got == nil || got.ID() != s.ID() {
			t.Errorf("lookupScenario(%q) = %v", s.ID(), got)
		}
	}
	for _, name := range strings.Split(scenarioNames(), ", ") {
		if lookupScenario(name) == nil {
			t.Errorf("the documented name %q finds no scenario", name)
		}
	}
}

func TestWriteMarkdown(t *testing.T) {
	r := &Report{
		Settings: Settings{Concurrency: 16, Rounds: 3, Payloads: []int{256, 1 << 10, 512 << 10}, Rate: 200, Duration: "10s"},
		Rows: []Row{
			{Scenario: "1", Name: "stage overhead", Case: "1 KiB", Metric: "drain throughput", Unit: "msg/s", Jetflow: 9000.4, Bare: 10000, Ratio: 0.90004, Target: ">= 0.80", Status: StatusOK,
				Idiomatic: 12000, IdiomaticRatio: 0.75, Peers: []PeerFigure{{Name: "watermill", Value: 5000, RatioBare: 0.5, RatioIdiomatic: 0.4167}}},
			{Scenario: "2", Name: "hop latency", Metric: "p99", Unit: "ms", Jetflow: 1.234, Bare: 1, Ratio: 1.234, Target: "<= 1.50", Status: StatusOK},
			{Scenario: "3", Name: "chat", Metric: "a|b", Status: "not run: needs the chat worker"},
		},
	}
	var b bytes.Buffer
	if err := r.WriteMarkdown(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"| 1 | stage overhead | 1 KiB | drain throughput | 9000 msg/s | 10000 msg/s | 12000 msg/s | 0.90 | 0.75 | >= 0.80 | ok | watermill 5000 msg/s, 0.50, 0.42 |",
		"| 2 | hop latency |  | p99 | 1.23 ms | 1.00 ms |  | 1.23 |  | <= 1.50 | ok |  |",
		`| 3 | chat |  | a\|b |  |  |  |  |  |  | not run: needs the chat worker |  |`,
		"payloads 256 B, 1 KiB, 512 KiB",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, b.String())
		}
	}
}
