package footprint

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// WriteTable writes the results as a Markdown table, one row per worker with each measurement
// beside its worker's budget, and returns whether every worker is within bs.
func WriteTable(w io.Writer, bs Budgets, results []Result) (ok bool, err error) {
	ok = true
	var sb strings.Builder
	sb.WriteString("| worker | binary | ready | idle RSS | of which anonymous | RSS under load | load | SIGTERM | verdict |\n")
	sb.WriteString("|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range results {
		b := bs.For(r.Worker)
		verdict := "ok"
		if v := bs.Violations(r); len(v) > 0 {
			ok = false
			verdict = "**over budget**: " + strings.Join(v, "; ")
		}
		fmt.Fprintf(&sb, "| %s | %s%s | %s%s | %s%s | %s | %s | %s | %s | %s |\n",
			r.Worker, mib(r.Size), sizeLimit(b.Size), dur(r.Ready), readyLimit(b.Ready),
			size(r.IdleRSS), sizeLimit(b.IdleRSS), size(r.IdleAnon), loadRSS(r, b), load(r), exit(r), escape(verdict))
	}
	_, err = io.WriteString(w, sb.String())
	return ok, err
}

func dur(d time.Duration) string {
	if d == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
}

func size(n int64) string {
	if n == 0 {
		return "-"
	}
	return mib(n)
}

func loadRSS(r Result, b Budget) string {
	if r.Load == 0 {
		return "-"
	}
	return mib(r.LoadRSS) + sizeLimit(b.LoadRSS)
}

// sizeLimit and readyLimit write a budget's limit after the measurement, " (<= 22.0 MiB)";
// nothing when the budget sets none.
func sizeLimit(n int64) string {
	if n <= 0 {
		return ""
	}
	return " (<= " + mib(n) + ")"
}

func readyLimit(d time.Duration) string {
	if d <= 0 {
		return ""
	}
	return " (< " + dur(d) + ")"
}

func load(r Result) string {
	if r.Load == 0 {
		return escape(r.LoadNote)
	}
	s := fmt.Sprintf("%d requests in %.1f s", r.Load, r.LoadDuration.Seconds())
	if r.LoadNote != "" {
		s += " (" + r.LoadNote + ")"
	}
	return escape(s)
}

func exit(r Result) string {
	switch {
	case !r.Exited:
		return "-"
	case r.ExitCode == 0:
		return "exit 0"
	}
	return fmt.Sprintf("exit %d", r.ExitCode)
}

func escape(s string) string { return strings.ReplaceAll(s, "|", `\|`) }
