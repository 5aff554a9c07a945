package client

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// parseArgs parses fs's flags wherever they stand among the arguments (`jetflow say "text"
// -o out.wav`), and returns the other arguments in order. "--" ends the flags. --help prints
// help and the flags on stdout and returns flag.ErrHelp; a bad flag is a usage error.
func parseArgs(fs *flag.FlagSet, args []string, stdout io.Writer, help string) ([]string, error) {
	fs.SetOutput(io.Discard)
	var positional []string
	for {
		err := fs.Parse(args)
		switch {
		case errors.Is(err, flag.ErrHelp):
			fmt.Fprint(stdout, help)
			fmt.Fprintln(stdout, "\nFlags:")
			fs.SetOutput(stdout)
			fs.PrintDefaults()
			return nil, flag.ErrHelp
		case err != nil:
			return nil, usageErrorf("%v (see %s --help)", err, fs.Name())
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return positional, nil
		}
		if len(args) > len(rest) && args[len(args)-len(rest)-1] == "--" {
			return append(positional, rest...), nil
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
}

// text joins the arguments as one text: `jetflow chat how does it scale` asks one question.
func text(args []string) string {
	return strings.TrimSpace(strings.Join(args, " "))
}
