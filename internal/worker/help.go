package worker

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/jetflow-dev/jetflow/internal/buildinfo"
	"github.com/jetflow-dev/jetflow/internal/envconfig"
)

// Exit codes of a worker binary, as its --help states them.
const (
	ExitOK    = 0 // stopped cleanly on SIGTERM or SIGINT; or --help or --version answered
	ExitError = 1 // did not start, or a runner failed: the log on stderr says why
	ExitUsage = 2 // a flag it does not know, or an argument
)

// Command is a worker binary: its name, what its --help says, and how it builds its stages.
type Command struct {
	// Name is the binary's name and the service's (logs, traces, the NATS connection).
	Name string
	// Summary says what the worker does, in a sentence or two, for --help.
	Summary string
	// Env lists every variable the worker reads besides the shell's (ShellEnv), for --help.
	// integration/help_test.go runs Build and fails when it reads a variable not listed here.
	Env []envconfig.Section
	// Build assembles the stages.
	Build Build
}

// Main runs the binary with the process's arguments and returns its exit code. With --help or
// --version it answers on stdout and returns without reading the environment, connecting or
// listening; with no arguments it runs the worker (Main).
func (c Command) Main() int {
	return c.main(os.Args[1:], os.Stdout, os.Stderr, func() int { return Main(c.Name, c.Build) })
}

// main is Main with the process's parts passed in; run starts the worker.
func (c Command) main(args []string, stdout, stderr io.Writer, run func() int) int {
	fs := flag.NewFlagSet(c.Name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // the error is reported below, with the usage line
	// help is a flag like any other, not the flag package's -h, so that -h, -help and --help
	// all print the whole text to stdout.
	var help, version bool
	fs.BoolVar(&help, "help", false, "")
	fs.BoolVar(&help, "h", false, "")
	fs.BoolVar(&version, "version", false, "")
	err := fs.Parse(args)
	if err == nil && fs.NArg() > 0 {
		err = fmt.Errorf("unexpected argument %q: %s is configured only by environment variables", fs.Arg(0), c.Name)
	}
	switch {
	case err != nil:
		fmt.Fprintf(stderr, "%s: %v\n%s", c.Name, err, c.usage())
		return ExitUsage
	case help:
		if err := c.WriteHelp(stdout); err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", c.Name, err)
			return ExitError
		}
		return ExitOK
	case version:
		fmt.Fprint(stdout, buildinfo.Read(c.Name))
		return ExitOK
	}
	return run()
}

func (c Command) usage() string {
	return fmt.Sprintf("usage: %s [--help | --version]   (%s --help lists its environment variables)\n", c.Name, c.Name)
}

// Sections are every variable the binary reads: the worker's own, then the shell's.
func (c Command) Sections() []envconfig.Section {
	return append(append([]envconfig.Section(nil), c.Env...), ShellEnv...)
}

// WriteHelp writes the --help text: what the binary does, how to run it, every environment
// variable it reads and its exit codes.
func (c Command) WriteHelp(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n\n", wrap(c.Name+": "+c.Summary, helpWidth))
	fmt.Fprintf(&b, "Usage:\n")
	fmt.Fprintf(&b, "  %s            run until SIGTERM or SIGINT, then finish or hand back in-flight work and exit\n", c.Name)
	fmt.Fprintf(&b, "  %s --help     this text\n", c.Name)
	fmt.Fprintf(&b, "  %s --version  version and build information\n\n", c.Name)
	fmt.Fprintf(&b, "Configured only by environment variables; a bad value stops it at start, naming the variable.\n\n")
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("writing the help: %w", err)
	}
	if err := envconfig.WriteHelp(w, c.Sections()...); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, `
Exit codes:
  %d  stopped cleanly on SIGTERM or SIGINT; or --help or --version answered
  %d  did not start (a bad variable, NATS unreachable) or a stage failed; the JSON log on stderr says why
  %d  a flag it does not know, or an argument
`, ExitOK, ExitError, ExitUsage)
	if err != nil {
		return fmt.Errorf("writing the help: %w", err)
	}
	return nil
}

// helpWidth is where wrap breaks the prose of a --help.
const helpWidth = 100

// wrap breaks text into lines of at most width columns, between words.
func wrap(text string, width int) string {
	var b strings.Builder
	line := 0
	for i, word := range strings.Fields(text) {
		if i > 0 && line+1+len(word) > width {
			b.WriteByte('\n')
			line = 0
		} else if i > 0 {
			b.WriteByte(' ')
			line++
		}
		b.WriteString(word)
		line += len(word)
	}
	return b.String()
}
