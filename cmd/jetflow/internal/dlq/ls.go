package dlq

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/jetflow-dev/jetflow/internal/stage"
)

const lsUsage = `jetflow dlq ls [selection] [-o json]: list dead letters, oldest first.

Columns: SEQ (the letter's AI_DLQ sequence, what show, replay and purge take), STAGE, KIND
(permanent, exhausted, max-deliveries), AGE (since it was dead-lettered), REPLAYED (no, or the
replay generation and when), SUBJECT (the original subject a replay publishes to), REASON.
-o json prints an array of objects with every field, for scripts.

` + selectionHelp

// listed is one letter as ls -o json prints it.
type listed struct {
	Seq             uint64    `json:"seq"`
	Stage           string    `json:"stage"`
	Kind            string    `json:"kind"`
	Reason          string    `json:"reason"`
	FailedAt        time.Time `json:"failed_at"`
	AgeSeconds      float64   `json:"age_seconds"`
	OriginalSubject string    `json:"original_subject"`
	OriginalStream  string    `json:"original_stream"`
	OriginalSeq     uint64    `json:"original_seq"`
	Deliveries      uint64    `json:"deliveries"`
	RequestID       string    `json:"request_id,omitempty"`
	Type            string    `json:"type,omitempty"`
	Size            int       `json:"size"`
	Replayed        bool      `json:"replayed"`
	Replay          *Record   `json:"replay,omitempty"`
}

func ls(ctx context.Context, args []string, env Env) error {
	c := newCommand("ls", lsUsage)
	var sf selectionFlags
	sf.register(c.fs, false)
	output := outputFlag(c.fs)
	words, err := c.parse(args, env.Stdout)
	if err != nil {
		return err
	}
	now := env.now()
	sel, err := sf.selection("ls", words, now, false)
	if err != nil {
		return err
	}
	if err := checkOutput("ls", *output); err != nil {
		return err
	}
	js, closeConn, err := connect(ctx, env)
	if err != nil {
		return err
	}
	defer closeConn()
	recs, err := openRecords(ctx, js)
	if err != nil {
		return err
	}
	replays, err := recs.All(ctx)
	if err != nil {
		return err
	}
	var rows []listed
	err = readLetters(ctx, js, sel, func(l Letter) error {
		row := listed{
			Seq: l.Seq, Stage: l.Stage, Kind: l.Kind, Reason: l.Reason, FailedAt: l.FailedAt,
			AgeSeconds: now.Sub(l.FailedAt).Seconds(), OriginalSubject: l.OriginalSubject,
			OriginalStream: l.OriginalStream, OriginalSeq: l.OriginalSeq, Deliveries: l.Deliveries,
			RequestID: l.RequestID(), Type: l.Header.Get(stage.HeaderType), Size: l.Size,
		}
		if e, ok := forLetter(replays, l); ok {
			rec := e.Record
			row.Replay, row.Replayed = &rec, rec.State == stateReplayed
		}
		rows = append(rows, row)
		return nil
	})
	if err != nil {
		return err
	}
	if *output == "json" {
		if rows == nil {
			rows = []listed{}
		}
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rows); err != nil {
			return fmt.Errorf("writing the list: %w", err)
		}
		return nil
	}
	return writeTable(env.Stdout, rows, now)
}

func writeTable(out io.Writer, rows []listed, now time.Time) error {
	if len(rows) == 0 {
		fmt.Fprintln(out, "no dead letters match")
		return nil
	}
	w := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "SEQ\tSTAGE\tKIND\tAGE\tREPLAYED\tSUBJECT\tREASON")
	for _, r := range rows {
		fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Seq, r.Stage, r.Kind, age(now.Sub(r.FailedAt)),
			replayedCell(r.Replay, now), r.OriginalSubject, shorten(r.Reason, 80))
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("writing the list: %w", err)
	}
	fmt.Fprintf(out, "%d dead letters\n", len(rows))
	return nil
}

func replayedCell(r *Record, now time.Time) string {
	switch {
	case r == nil:
		return "no"
	case r.State != stateReplayed:
		return "unconfirmed (rerun replay)"
	case r.Generation == 1:
		return "yes, " + age(now.Sub(r.At)) + " ago"
	}
	return "yes ×" + strconv.Itoa(r.Generation) + ", " + age(now.Sub(r.At)) + " ago"
}

// age is a duration as a person reads it in a table: 42s, 5m, 3h, 2d.
func age(d time.Duration) string {
	switch {
	case d < 0:
		return "0s"
	case d < time.Minute:
		return strconv.Itoa(int(d.Seconds())) + "s"
	case d < time.Hour:
		return strconv.Itoa(int(d.Minutes())) + "m"
	case d < 48*time.Hour:
		return strconv.Itoa(int(d.Hours())) + "h"
	}
	return strconv.Itoa(int(d.Hours()/24)) + "d"
}
