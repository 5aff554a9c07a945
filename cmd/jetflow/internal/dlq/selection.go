package dlq

import (
	"flag"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// selectionFlags are the flags every command that reads several letters shares.
type selectionFlags struct {
	stages, kinds listFlag
	reason        string
	since, until  string
	all           bool
}

const selectionHelp = `Selection (combined with AND; replay and purge need at least one, or --all):
  SEQ, FROM-TO, FROM-     AI_DLQ sequences (the first column of jetflow dlq ls), several allowed
  --stage NAME            the stage that gave up (a consumer name such as chat-retrieve); repeat or comma-separate
  --kind KIND             permanent, exhausted or max-deliveries; repeat or comma-separate
  --reason TEXT           Jetflow-Error contains TEXT; /RE/ is a regular expression instead
  --since T, --until T    dead-lettered at or after / at or before T: a duration back from now
                          (90m, 2h, 3d) or an RFC 3339 time (2026-12-03T10:00:00Z)
`

func (f *selectionFlags) register(fs *flag.FlagSet, withAll bool) {
	fs.Var(&f.stages, "stage", "only letters of this stage (repeatable, comma-separated)")
	fs.Var(&f.kinds, "kind", "only letters of this kind: permanent, exhausted, max-deliveries (repeatable)")
	fs.StringVar(&f.reason, "reason", "", "only letters whose reason contains this text, or matches /regexp/")
	fs.StringVar(&f.since, "since", "", "only letters dead-lettered since a duration ago (2h, 3d) or an RFC 3339 time")
	fs.StringVar(&f.until, "until", "", "only letters dead-lettered until a duration ago or an RFC 3339 time")
	if withAll {
		fs.BoolVar(&f.all, "all", false, "select every letter (needed when no other selection is given)")
	}
}

// selection builds the Selection from the flags and the positional sequence arguments. With
// needSome, an empty selection without --all is refused: replay and purge act on every letter
// only when told so.
func (f *selectionFlags) selection(cmd string, args []string, now time.Time, needSome bool) (Selection, error) {
	var s Selection
	for _, a := range args {
		r, err := parseRange(a)
		if err != nil {
			return s, usageErrorf("%s: %v (see jetflow dlq %s --help)", cmd, err, cmd)
		}
		s.Ranges = append(s.Ranges, r)
	}
	s.Stages = f.stages
	for _, k := range f.kinds {
		if !slices.Contains(kinds, k) {
			return s, usageErrorf("%s: --kind %q is none of %s", cmd, k, strings.Join(kinds, ", "))
		}
	}
	s.Kinds = f.kinds
	if f.reason != "" {
		re, err := reasonPattern(f.reason)
		if err != nil {
			return s, usageErrorf("%s: --reason: %v", cmd, err)
		}
		s.Reason = re
	}
	var err error
	if s.Since, err = parseTime(f.since, now); err != nil {
		return s, usageErrorf("%s: --since: %v", cmd, err)
	}
	if s.Until, err = parseTime(f.until, now); err != nil {
		return s, usageErrorf("%s: --until: %v", cmd, err)
	}
	empty := len(s.Ranges) == 0 && len(s.Stages) == 0 && len(s.Kinds) == 0 && s.Reason == nil && s.Since.IsZero() && s.Until.IsZero()
	switch {
	case needSome && empty && !f.all:
		return s, usageErrorf("%s needs a selection: sequences (42, 40-50), filters (--stage, --kind, --reason, --since, --until) or --all (see jetflow dlq %s --help)", cmd, cmd)
	case f.all && !empty:
		return s, usageErrorf("%s: --all selects every letter; leave it out when selecting by sequence or filter", cmd)
	}
	return s, nil
}

var kinds = []string{"permanent", "exhausted", "max-deliveries"}

// parseRange reads SEQ, FROM-TO or FROM-.
func parseRange(a string) (SeqRange, error) {
	from, to, isRange := strings.Cut(a, "-")
	lo, err := strconv.ParseUint(from, 10, 64)
	if err != nil || lo == 0 {
		return SeqRange{}, fmt.Errorf("%q is not a sequence (42), a range (40-50) or an open range (40-)", a)
	}
	if !isRange {
		return SeqRange{From: lo, To: lo}, nil
	}
	if to == "" {
		return SeqRange{From: lo, To: math.MaxUint64}, nil
	}
	hi, err := strconv.ParseUint(to, 10, 64)
	if err != nil || hi < lo {
		return SeqRange{}, fmt.Errorf("%q is not a range FROM-TO with FROM <= TO", a)
	}
	return SeqRange{From: lo, To: hi}, nil
}

// reasonPattern is a regular expression between slashes, or a literal substring.
func reasonPattern(s string) (*regexp.Regexp, error) {
	if len(s) >= 2 && strings.HasPrefix(s, "/") && strings.HasSuffix(s, "/") {
		return regexp.Compile(s[1 : len(s)-1])
	}
	return regexp.MustCompile(regexp.QuoteMeta(s)), nil
}

// parseTime reads a duration back from now (with d for days) or an RFC 3339 time; "" is zero.
func parseTime(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if days, ok := strings.CutSuffix(s, "d"); ok {
		if n, err := strconv.ParseFloat(days, 64); err == nil && n >= 0 {
			return now.Add(-time.Duration(n * float64(24*time.Hour))), nil
		}
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("%q is neither a duration (90m, 2h, 3d) nor an RFC 3339 time", s)
}

// listFlag is a repeatable, comma-separated flag.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(v string) error {
	for p := range strings.SplitSeq(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*l = append(*l, p)
		}
	}
	return nil
}
