package dlq

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetflow-dev/jetflow/streams"
)

const purgeUsage = `jetflow dlq purge [selection] [--yes] [--dry-run]: delete dead letters that must never run
again from AI_DLQ, with their replay records.

It asks for confirmation on the terminal; --yes confirms without asking, and without a terminal
(a script, a pipe) it refuses unless --yes is given. --dry-run lists what would go.

` + selectionHelp

func purge(ctx context.Context, args []string, env Env) error {
	c := newCommand("purge", purgeUsage)
	var sf selectionFlags
	sf.register(c.fs, true)
	yes := c.fs.Bool("yes", false, "delete without asking for confirmation")
	dryRun := c.fs.Bool("dry-run", false, "list what would be deleted and change nothing")
	words, err := c.parse(args, env.Stdout)
	if err != nil {
		return err
	}
	sel, err := sf.selection("purge", words, env.now(), true)
	if err != nil {
		return err
	}
	if !*yes && !*dryRun && !env.StdinTerminal {
		return usageErrorf("purge deletes dead letters for good and there is no terminal to confirm it on: pass --yes (or --dry-run to see what would go)")
	}
	js, closeConn, err := connect(ctx, env)
	if err != nil {
		return err
	}
	defer closeConn()
	var letters []Letter
	if err := readLetters(ctx, js, sel, func(l Letter) error {
		letters = append(letters, l)
		return nil
	}); err != nil {
		return err
	}
	if len(letters) == 0 {
		fmt.Fprintln(env.Stdout, "no dead letters match: nothing purged")
		return nil
	}
	if *dryRun {
		for _, l := range letters {
			fmt.Fprintf(env.Stdout, "would purge %d (%s, %s): %s\n", l.Seq, l.Stage, l.Kind, shorten(l.Reason, 80))
		}
		fmt.Fprintf(env.Stdout, "dry run, nothing changed: would purge %d\n", len(letters))
		return nil
	}
	if !*yes && !confirm(env, len(letters)) {
		fmt.Fprintln(env.Stdout, "nothing purged")
		return nil
	}
	stream, err := deadLetterStream(ctx, js)
	if err != nil {
		return err
	}
	recs, err := openRecords(ctx, js)
	if err != nil {
		return err
	}
	all, err := recs.All(ctx)
	if err != nil {
		return err
	}
	purged, failed := 0, 0
	for _, l := range letters {
		if err := stream.DeleteMsg(ctx, l.Seq); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
			failed++
			fmt.Fprintf(env.Stderr, "letter %d: deleting it from %s: %v\n", l.Seq, streams.StreamDeadLetter, err)
			continue
		}
		if _, ok := all[l.Seq]; ok {
			if err := recs.Remove(ctx, l.Seq); err != nil {
				failed++
				fmt.Fprintf(env.Stderr, "letter %d: deleted, but %v\n", l.Seq, err)
				continue
			}
		}
		purged++
	}
	fmt.Fprintf(env.Stdout, "purged %d, failed %d\n", purged, failed)
	if failed > 0 {
		return fmt.Errorf("%d of %d letters were not purged (see above): %w", failed, len(letters), ErrIncomplete)
	}
	return nil
}

// confirm asks on the terminal whether to delete n letters.
func confirm(env Env, n int) bool {
	fmt.Fprintf(env.Stderr, "Delete %d dead letters from %s for good? They can never be replayed. [y/N] ", n, streams.StreamDeadLetter)
	line, _ := bufio.NewReader(env.Stdin).ReadString('\n')
	answer := strings.ToLower(strings.TrimSpace(line))
	return answer == "y" || answer == "yes"
}
