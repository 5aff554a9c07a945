package fault

import (
	"encoding/json"
	"fmt"
	"os"
	"testing"
	"time"
)

// Figures are what a scenario reports at its end: one row of the README's Reliability table.
type Figures struct {
	Scenario string `json:"scenario"`
	Form     string `json:"form"` // short or full
	// Load is the number of requests (or sessions, turns) published.
	Load int `json:"load"`
	// Faults says what was injected, such as "5 kill -9 of chat-handler".
	Faults       string `json:"faults"`
	Lost         int    `json:"lost"`
	Duplicated   int    `json:"duplicated"`
	DeadLettered int    `json:"dead_lettered"`
	// UpstreamCalls is the number of model calls (during the outage, for the outage scenario).
	UpstreamCalls int64 `json:"upstream_calls"`
	// Recover is the longest time from a fault's end to the next result.
	Recover  time.Duration `json:"recover_ns"`
	Duration time.Duration `json:"duration_ns"`
	// Notes holds anything else the scenario measured (redeliveries, publish retries).
	Notes string `json:"notes,omitempty"`
}

// FromAudit fills Load, Lost, Duplicated and DeadLettered from an audit.
func (f *Figures) FromAudit(a *Audit) {
	f.Load = len(a.Spec.IDs)
	f.Lost = len(a.Missing())
	f.Duplicated = len(a.Duplicated())
	f.DeadLettered = len(a.DeadLettered())
}

func (f Figures) String() string {
	return fmt.Sprintf("FIGURES %s (%s form): load %d, faults %s, lost %d, duplicated %d, dead-lettered %d, upstream calls %d, time to recover %v, took %v; %s",
		f.Scenario, f.Form, f.Load, f.Faults, f.Lost, f.Duplicated, f.DeadLettered, f.UpstreamCalls,
		f.Recover.Round(10*time.Millisecond), f.Duration.Round(100*time.Millisecond), f.Notes)
}

// Report logs the figures (go test -v shows them) and appends them as a JSON line to the file
// JETFLOW_RELIABILITY_FIGURES names, if any.
func (f Figures) Report(t *testing.T) {
	t.Helper()
	f.Form = Scale("short", "full")
	t.Log(f.String())
	path := os.Getenv(EnvFigures)
	if path == "" {
		return
	}
	line, err := json.Marshal(f)
	if err != nil {
		t.Errorf("encoding the figures: %v", err)
		return
	}
	file, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Errorf("opening %s: %v", path, err)
		return
	}
	defer file.Close()
	if _, err := file.Write(append(line, '\n')); err != nil {
		t.Errorf("writing %s: %v", path, err)
	}
}
