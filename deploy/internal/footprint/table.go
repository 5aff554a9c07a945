package footprint

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// WriteTable writes the results as a Markdown table, one row per worker, and returns whether
// every worker is within b.
func WriteTable(w io.Writer, b Budgets, results []Result) (ok bool, err error) {
	ok = true
	var sb strings.Builder
	fmt.Fprintf(&sb, "| worker | binary (<= %s / %s Milvus) | ready (< %v) | idle RSS (<= %s) | RSS under load (<= %s) | load | SIGTERM | verdict |\n",
		mib(b.Size), mib(b.BigSize), b.Ready, mib(b.IdleRSS), mib(b.LoadRSS))
	sb.WriteString("|---|---|---|---|---|---|---|---|\n")
	for _, r := range results {
		verdict := "ok"
		if v := b.Violations(r); len(v) > 0 {
			ok = false
			verdict = "**over budget**: " + strings.Join(v, "; ")
		}
		fmt.Fprintf(&sb, "| %s | %s | %s | %s | %s | %s | %s | %s |\n",
			r.Worker, mib(r.Size), dur(r.Ready), size(r.IdleRSS), loadRSS(r), load(r), exit(r), escape(verdict))
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

func loadRSS(r Result) string {
	if r.Load == 0 {
		return "-"
	}
	return mib(r.LoadRSS)
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
