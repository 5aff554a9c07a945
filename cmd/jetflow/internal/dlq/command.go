package dlq

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Env is what a dlq command runs against: its streams and the server.
type Env struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// StdinTerminal says a person can answer purge's confirmation; StderrTerminal that a
	// progress bar can be drawn.
	StdinTerminal, StderrTerminal bool
	// Connect opens the JetStream connection and returns how to close it. It is called only
	// by commands that need the server, after their arguments were checked.
	Connect func(ctx context.Context) (jetstream.JetStream, func(), error)
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	// afterPublish, when set, is called after each replay publish is acked and before it is
	// recorded: a test returns an error there to stop the run as a crash at that point would.
	afterPublish func(Letter) error
}

func (e Env) now() time.Time {
	if e.Now == nil {
		return time.Now()
	}
	return e.Now()
}

// Usage is the help of `jetflow dlq`.
const Usage = `jetflow dlq: list, inspect, replay and purge the dead letters in AI_DLQ.

Usage:
  jetflow dlq ls [selection] [-o json]         dead letters as a table (or JSON), oldest first
  jetflow dlq show SEQ                         one letter: headers, trace id, decoded payload
  jetflow dlq replay [selection] [--again] [--dry-run] [--rate N]
                                               publish letters back to their original subjects, once
  jetflow dlq purge [selection] [--yes] [--dry-run]
                                               delete letters that must never run again

SEQ is the letter's sequence in AI_DLQ, the first column of jetflow dlq ls.
Run jetflow dlq COMMAND --help for the selection flags and the rest.

Exit status: 0 done; 1 an error, or some letters failed (the rest is recorded: run the same
command again to resume); 2 a usage error (nothing was done).
`

// Run runs `jetflow dlq ARGS`. Errors match ErrUsage (nothing was done), ErrIncomplete (some
// letters failed) or flag.ErrHelp (help was printed).
func Run(ctx context.Context, args []string, env Env) error {
	if len(args) == 0 {
		fmt.Fprint(env.Stderr, Usage)
		return usageErrorf("dlq needs a command: ls, show, replay or purge")
	}
	switch args[0] {
	case "ls", "list":
		return ls(ctx, args[1:], env)
	case "show":
		return show(ctx, args[1:], env)
	case "replay":
		return replay(ctx, args[1:], env)
	case "purge":
		return purge(ctx, args[1:], env)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(env.Stdout, Usage)
		return flag.ErrHelp
	}
	return usageErrorf("unknown dlq command %q: the commands are ls, show, replay and purge (see jetflow dlq --help)", args[0])
}

// command is one subcommand's flags and help.
type command struct {
	name  string // "ls"
	usage string // its help, printed above the flags
	fs    *flag.FlagSet
}

func newCommand(name, usage string) *command {
	fs := flag.NewFlagSet("jetflow dlq "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return &command{name: name, usage: usage, fs: fs}
}

// parse parses flags anywhere among the arguments (jetflow dlq replay 40-50 --dry-run) and
// returns the positional ones. --help prints the help on stdout.
func (c *command) parse(args []string, stdout io.Writer) ([]string, error) {
	var positional []string
	if i := slices.Index(args, "--"); i >= 0 {
		args, positional = args[:i], slices.Clone(args[i+1:])
	}
	var words []string
	for {
		if err := c.fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				c.help(stdout)
				return nil, flag.ErrHelp
			}
			return nil, usageErrorf("%v (see %s --help)", err, c.fs.Name())
		}
		args = c.fs.Args()
		if len(args) == 0 {
			break
		}
		words = append(words, args[0])
		args = args[1:]
	}
	return append(words, positional...), nil
}

func (c *command) help(w io.Writer) {
	fmt.Fprint(w, c.usage)
	fmt.Fprintln(w, "\nFlags:")
	c.fs.SetOutput(w)
	c.fs.PrintDefaults()
	c.fs.SetOutput(io.Discard)
}

// connect opens the server connection through env.
func connect(ctx context.Context, env Env) (jetstream.JetStream, func(), error) {
	if env.Connect == nil {
		return nil, nil, errors.New("no server connection configured")
	}
	js, closeConn, err := env.Connect(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("connecting to NATS (set NATS_URL and the credentials, see jetflow --help): %w", err)
	}
	return js, closeConn, nil
}

// outputFlag is -o / --output: table or json.
func outputFlag(fs *flag.FlagSet) *string {
	o := new(string)
	*o = "table"
	fs.StringVar(o, "o", "table", "output format: table or json")
	fs.StringVar(o, "output", "table", "same as -o")
	return o
}

func checkOutput(cmd, o string) error {
	if o != "table" && o != "json" {
		return usageErrorf("%s: -o %q: the formats are table and json", cmd, o)
	}
	return nil
}

// shorten cuts s to n runes for a table cell, on one line.
func shorten(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
