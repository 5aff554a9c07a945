package envconfig

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// Var is one environment variable a binary reads, as its --help lists it. Binaries declare
// their variables as data so that the help is generated, and a test can check the declaration
// against what the binary really reads (every lookup goes through a Lookup the test can wrap).
type Var struct {
	// Name is the variable's full name, such as NATS_URL. Required.
	Name string
	// Default is what an unset or empty variable means: a value (a string, a number, a
	// time.Duration) or words ("no reranking"). nil or "" prints no default.
	Default any
	// Usage says what the variable sets, in one line.
	Usage string
	// Required says the binary does not start without it.
	Required bool
	// ReadBy names the library that reads the variable from the process environment itself
	// (OpenTelemetry, net/http, the Go runtime), out of sight of a Lookup. Empty means the
	// binary reads it through a Lookup, where a test sees it being read.
	ReadBy string
}

// Section is a titled group of variables, one block of a --help.
type Section struct {
	Title string
	Vars  []Var
}

// Names returns the names of every variable of sections, in order.
func Names(sections ...Section) []string {
	var names []string
	for _, s := range sections {
		for _, v := range s.Vars {
			names = append(names, v.Name)
		}
	}
	return names
}

// WriteHelp writes sections as the environment part of a --help: each section's title, then one
// aligned line per variable with its usage and default.
func WriteHelp(w io.Writer, sections ...Section) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for i, s := range sections {
		if i > 0 {
			fmt.Fprintln(tw)
		}
		fmt.Fprintf(tw, "%s:\n", s.Title)
		for _, v := range s.Vars {
			fmt.Fprintf(tw, "  %s\t%s\n", v.Name, v.describe())
		}
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("writing the environment variables: %w", err)
	}
	return nil
}

// describe is the variable's usage followed by its default and who reads it.
func (v Var) describe() string {
	var notes []string
	if v.Required {
		notes = append(notes, "required")
	}
	if d := formatDefault(v.Default); d != "" {
		notes = append(notes, "default "+d)
	}
	if v.ReadBy != "" {
		notes = append(notes, "read by "+v.ReadBy)
	}
	if len(notes) == 0 {
		return v.Usage
	}
	return v.Usage + " (" + strings.Join(notes, "; ") + ")"
}

// formatDefault writes durations the way an operator types them (5m, not 5m0s).
func formatDefault(d any) string {
	switch d := d.(type) {
	case nil:
		return ""
	case time.Duration:
		return ShortDuration(d)
	case []time.Duration:
		parts := make([]string, len(d))
		for i, x := range d {
			parts[i] = ShortDuration(x)
		}
		return strings.Join(parts, ",")
	default:
		return fmt.Sprint(d)
	}
}

// ShortDuration formats d without the zero units time.Duration.String keeps: 5m, 1h30m, 2s.
func ShortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
