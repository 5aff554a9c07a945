package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Row is one line of the results table: one measurement of jetflow beside the same measurement
// of the bare-JetStream equivalent.
type Row struct {
	// Scenario is the number of the scenario in the benchmark issue ("1".."6") and Name its title.
	Scenario string `json:"scenario"`
	Name     string `json:"name"`
	// Case tells the rows of one scenario apart (a payload size, a process count).
	Case string `json:"case,omitempty"`
	// Metric names what was measured, in Unit ("msg/s", "ms", "MiB").
	Metric string `json:"metric"`
	Unit   string `json:"unit,omitempty"`
	// Jetflow and Bare are the medians over the runs; Ratio is Jetflow/Bare. Zero means not
	// measured (a scenario without a bare equivalent leaves Bare and Ratio zero).
	Jetflow float64 `json:"jetflow,omitempty"`
	Bare    float64 `json:"bare,omitempty"`
	Ratio   float64 `json:"ratio,omitempty"`
	// Target is the goal for Ratio (or for Jetflow when there is no bare side), as text: ">= 0.80".
	Target string `json:"target,omitempty"`
	// Status is "ok", "below target", "not run: <why>" or "error: <what>".
	Status string `json:"status"`
	// JetflowRuns and BareRuns are the single runs the medians come from, in run order.
	JetflowRuns []float64 `json:"jetflow_runs,omitempty"`
	BareRuns    []float64 `json:"bare_runs,omitempty"`
	// Idiomatic is the median of the second reference, the loop a nats.go user would write
	// (read-ahead allowed), and IdiomaticRatio is Jetflow/Idiomatic.
	Idiomatic      float64   `json:"idiomatic,omitempty"`
	IdiomaticRatio float64   `json:"ratio_idiomatic,omitempty"`
	IdiomaticRuns  []float64 `json:"idiomatic_runs,omitempty"`
	// Peers are the other frameworks measured in the same rounds.
	Peers []PeerFigure `json:"peers,omitempty"`
}

// PeerFigure is one peer's median in a row, with its ratios to the two references.
type PeerFigure struct {
	Name           string    `json:"name"`
	Value          float64   `json:"value"`
	RatioBare      float64   `json:"ratio_bare,omitempty"`
	RatioIdiomatic float64   `json:"ratio_idiomatic,omitempty"`
	Runs           []float64 `json:"runs"`
}

// slowestRatio is jetflow's ratio to the faster reference for a higher-is-better figure: the
// smaller of its ratios to bare and to idiomatic.
func (r Row) slowestRatio() float64 {
	if r.IdiomaticRatio > 0 && (r.Ratio == 0 || r.IdiomaticRatio < r.Ratio) {
		return r.IdiomaticRatio
	}
	return r.Ratio
}

// compare makes a row of medians from the runs of each side.
func compare(s Scenario, caseName, metric, unit string, runs map[string][]float64) Row {
	r := Row{
		Scenario: s.ID(), Name: s.Name(), Case: caseName, Metric: metric, Unit: unit,
		JetflowRuns: runs[sideJetflow], BareRuns: runs[sideBare],
	}
	r.Jetflow, r.Bare = median(r.JetflowRuns), median(r.BareRuns)
	if r.Bare > 0 {
		r.Ratio = r.Jetflow / r.Bare
	}
	r.IdiomaticRuns = runs[sideIdiomatic]
	if r.Idiomatic = median(r.IdiomaticRuns); r.Idiomatic > 0 {
		r.IdiomaticRatio = r.Jetflow / r.Idiomatic
	}
	names := make([]string, 0, len(runs))
	for name := range runs {
		if name != sideJetflow && name != sideBare && name != sideIdiomatic {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	for _, name := range names {
		f := PeerFigure{Name: name, Value: median(runs[name]), Runs: runs[name]}
		if r.Bare > 0 {
			f.RatioBare = f.Value / r.Bare
		}
		if r.Idiomatic > 0 {
			f.RatioIdiomatic = f.Value / r.Idiomatic
		}
		r.Peers = append(r.Peers, f)
	}
	return r
}

// Statuses of a Row.
const (
	StatusOK          = "ok"
	StatusBelowTarget = "below target"
	StatusInfo        = "info" // measured, no target
)

// Report is the result of one benchmark run.
type Report struct {
	Started  time.Time     `json:"started"`
	Elapsed  time.Duration `json:"elapsed_ns"`
	Settings Settings      `json:"settings"`
	Rows     []Row         `json:"rows"`
}

// Settings records what the numbers depend on, so two reports can be compared.
type Settings struct {
	Short       bool     `json:"short"`
	Concurrency int      `json:"concurrency"`
	Rounds      int      `json:"rounds"`
	Payloads    []int    `json:"payloads"`
	ByteBudget  int      `json:"byte_budget"`
	MaxMessages int      `json:"max_messages"`
	Rate        int      `json:"rate_per_s"`
	Duration    string   `json:"latency_duration"`
	Scenarios   []string `json:"scenarios"`
	GoVersion   string   `json:"go_version"`
	GOMAXPROCS  int      `json:"gomaxprocs"`
	NumCPU      int      `json:"num_cpu"`
	NATSServer  string   `json:"nats_server"`
	Storage     string   `json:"storage"`
	// LoadBefore and LoadAfter are the machine's 1, 5 and 15 minute load averages at the start
	// and the end (Linux; empty elsewhere). Above the CPU count, other work competed with the
	// benchmark and its wall-clock figures are pessimistic; CPU per message suffers less.
	LoadBefore string `json:"load_before,omitempty"`
	LoadAfter  string `json:"load_after,omitempty"`
	// SlowConsumers counts the clients the server cut off or dropped messages for during the
	// run; anything but 0 makes the figures suspect.
	SlowConsumers int64 `json:"slow_consumers"`
}

// WriteMarkdown writes the results as one Markdown table, with the settings under it.
func (r *Report) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	b.WriteString("| # | scenario | case | metric | jetflow | bare | idiomatic | jetflow/bare | jetflow/idiomatic | target | status | peers (value, /bare, /idiomatic) |\n")
	b.WriteString("|---|---|---|---|---:|---:|---:|---:|---:|---|---|---|\n")
	for _, row := range r.Rows {
		peers := make([]string, len(row.Peers))
		for i, p := range row.Peers {
			peers[i] = fmt.Sprintf("%s %s, %s, %s", p.Name, formatValue(p.Value, row.Unit), formatRatio(p.RatioBare), formatRatio(p.RatioIdiomatic))
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
			escapeCell(row.Scenario), escapeCell(row.Name), escapeCell(row.Case), escapeCell(row.Metric),
			formatValue(row.Jetflow, row.Unit), formatValue(row.Bare, row.Unit), formatValue(row.Idiomatic, row.Unit),
			formatRatio(row.Ratio), formatRatio(row.IdiomaticRatio),
			escapeCell(row.Target), escapeCell(row.Status), escapeCell(strings.Join(peers, "; ")))
	}
	s := r.Settings
	fmt.Fprintf(&b, "\nconcurrency %d, %d round(s) alternating jetflow and bare (medians shown), payloads %s, "+
		"latency at %d msg/s for %s; %s, GOMAXPROCS %d of %d CPUs, nats-server %s, %s storage; took %s",
		s.Concurrency, s.Rounds, formatSizes(s.Payloads), s.Rate, s.Duration, s.GoVersion, s.GOMAXPROCS, s.NumCPU,
		s.NATSServer, s.Storage, r.Elapsed.Round(100*time.Millisecond))
	if s.LoadBefore != "" {
		fmt.Fprintf(&b, "; load average %s before, %s after", s.LoadBefore, s.LoadAfter)
	}
	if s.SlowConsumers > 0 {
		fmt.Fprintf(&b, "; WARNING: %d slow consumers", s.SlowConsumers)
	}
	b.WriteString(".\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteJSONFile writes the report as indented JSON to path, creating its directory.
func (r *Report) WriteJSONFile(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("creating directory for %s: %w", path, err)
	}
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding report: %w", err)
	}
	if err := os.WriteFile(path, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// loadAverage reads the 1, 5 and 15 minute load averages, or "" where /proc/loadavg is missing.
func loadAverage() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	fields := strings.Fields(string(data))
	if len(fields) < 3 {
		return ""
	}
	return strings.Join(fields[:3], " ")
}

func formatValue(v float64, unit string) string {
	if v == 0 {
		return ""
	}
	switch unit {
	case "msg/s":
		return strconv.FormatFloat(v, 'f', 0, 64) + " msg/s"
	case "ms":
		return strconv.FormatFloat(v, 'f', 2, 64) + " ms"
	case "":
		return strconv.FormatFloat(v, 'g', 4, 64)
	default:
		return strconv.FormatFloat(v, 'f', 1, 64) + " " + unit
	}
}

func formatRatio(v float64) string {
	if v == 0 {
		return ""
	}
	return strconv.FormatFloat(v, 'f', 2, 64)
}

func escapeCell(s string) string { return strings.ReplaceAll(s, "|", `\|`) }

// formatSize writes a payload size the way the issue names it: 256 B, 1 KiB, 512 KiB.
func formatSize(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return strconv.Itoa(n>>20) + " MiB"
	case n >= 1<<10 && n%(1<<10) == 0:
		return strconv.Itoa(n>>10) + " KiB"
	default:
		return strconv.Itoa(n) + " B"
	}
}

func formatSizes(ns []int) string {
	parts := make([]string, len(ns))
	for i, n := range ns {
		parts[i] = formatSize(n)
	}
	return strings.Join(parts, ", ")
}
