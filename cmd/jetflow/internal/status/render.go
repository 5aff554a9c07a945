package status

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// ANSI sequences for --watch: the cursor goes home and every line is rewritten over the last
// table, clearing what is left of each line and of the screen below, so the table refreshes in
// place without the flicker of clearing the whole screen first.
const (
	ansiHome           = "\x1b[H"
	ansiClearLineRest  = "\x1b[K"
	ansiClearBelow     = "\x1b[J"
	ansiClearScreen    = "\x1b[2J"
	tableHeader        = "STREAM\tCONSUMER\tPENDING\tACK PENDING\tREDELIVERED\tWAITING\tDLQ 1H\tDLQ TOTAL\tREPLICAS\tBREAKERS"
	noReplicaBreakers  = "-"
	noBreakersReported = "none"
)

// renderTable writes r as one table, then its problems (or that it is healthy) and warnings.
func renderTable(w io.Writer, r *Report, window time.Duration) error {
	var b strings.Builder
	fmt.Fprintf(&b, "jetflow status at %s\n\n", r.Time.Format(time.DateTime+" MST"))
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, tableHeader)
	for _, s := range r.Stages {
		if s.Missing {
			fmt.Fprintf(tw, "%s\t%s\tmissing\t-\t-\t-\t%d\t%d\t%d\t%s\n", s.Stream, s.Consumer,
				s.DeadLetters.LastHour, s.DeadLetters.Total, s.Replicas, breakersCell(s))
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\n", s.Stream, s.Consumer,
			s.Pending, s.AckPending, s.Redelivered, s.Waiting,
			s.DeadLetters.LastHour, s.DeadLetters.Total, s.Replicas, breakersCell(s))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("laying out the table: %w", err)
	}
	b.WriteString("\n")
	if r.Healthy {
		fmt.Fprintf(&b, "healthy: no breaker open, no dead letter in the last %s, every consumer present\n", age(window))
	} else {
		b.WriteString("problems:\n")
		for _, p := range r.Problems {
			fmt.Fprintf(&b, "  %s\n", p)
		}
	}
	for _, warning := range r.Warnings {
		fmt.Fprintf(&b, "warning: %s\n", warning)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// breakersCell shows each upstream's breaker: "llm closed, embeddings open 25s". Where the
// replicas disagree it says how many are in the worst state: "llm open 1/3 25s".
func breakersCell(s StageReport) string {
	if s.Replicas == 0 {
		return noReplicaBreakers
	}
	if len(s.Breakers) == 0 {
		return noBreakersReported
	}
	parts := make([]string, 0, len(s.Breakers))
	for _, b := range s.Breakers {
		part := b.Upstream + " " + b.State
		total := 0
		for _, n := range b.Replicas {
			total += n
		}
		if n := b.Replicas[b.State]; n != total {
			part += " " + strconv.Itoa(n) + "/" + strconv.Itoa(total)
		}
		if b.State == stateOpen && b.OpenForMS > 0 {
			part += " " + age(time.Duration(b.OpenForMS)*time.Millisecond)
		}
		parts = append(parts, part)
	}
	return strings.Join(parts, ", ")
}

// renderJSON writes r as one line of JSON, so that --watch -o json is a stream of JSON lines.
func renderJSON(w io.Writer, r *Report) error {
	data, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encoding the report: %w", err)
	}
	_, err = w.Write(append(data, '\n'))
	return err
}

// inPlace rewrites text over the previous screen: home, each line cleared to its end, and the
// rest of the screen cleared.
func inPlace(text string) string {
	var b strings.Builder
	b.WriteString(ansiHome)
	for line := range strings.Lines(text) {
		b.WriteString(strings.TrimSuffix(line, "\n"))
		b.WriteString(ansiClearLineRest + "\n")
	}
	b.WriteString(ansiClearBelow)
	return b.String()
}
