package deadletters

import (
	"math"
	"regexp"
	"slices"
	"time"

	"github.com/jetflow-dev/jetflow/streams"
)

// Selection chooses dead letters. The zero value chooses every letter.
type Selection struct {
	// Ranges of AI_DLQ sequences, inclusive; none means every sequence.
	Ranges []SeqRange
	// Stages and Kinds: the letter's must be one of them; none means any.
	Stages []string
	Kinds  []string
	// Reason matches the letter's Jetflow-Error; nil means any.
	Reason *regexp.Regexp
	// Since and Until bound the dead-lettering time (Jetflow-Failed-At); zero means unbounded.
	Since, Until time.Time
}

// SeqRange is an inclusive range of AI_DLQ sequences; To == math.MaxUint64 leaves it open.
type SeqRange struct{ From, To uint64 }

// Match reports whether the selection chooses l.
func (s Selection) Match(l Letter) bool {
	switch {
	case len(s.Ranges) > 0 && !slices.ContainsFunc(s.Ranges, func(r SeqRange) bool { return l.Seq >= r.From && l.Seq <= r.To }):
		return false
	case len(s.Stages) > 0 && !slices.Contains(s.Stages, l.Stage):
		return false
	case len(s.Kinds) > 0 && !slices.Contains(s.Kinds, l.Kind):
		return false
	case s.Reason != nil && !s.Reason.MatchString(l.Reason):
		return false
	case !s.Since.IsZero() && l.FailedAt.Before(s.Since):
		return false
	case !s.Until.IsZero() && l.FailedAt.After(s.Until):
		return false
	}
	return true
}

// Bounds is the smallest and largest sequence the ranges allow.
func (s Selection) Bounds() (lo, hi uint64) {
	if len(s.Ranges) == 0 {
		return 1, math.MaxUint64
	}
	lo, hi = math.MaxUint64, 0
	for _, r := range s.Ranges {
		lo, hi = min(lo, r.From), max(hi, r.To)
	}
	return lo, hi
}

// Subjects are the AI_DLQ subjects the selection can match.
func (s Selection) Subjects() []string {
	if len(s.Stages) == 0 {
		return []string{streams.SubjectDeadLetterAll}
	}
	out := make([]string, len(s.Stages))
	for i, st := range s.Stages {
		out[i] = streams.DeadLetterSubject(st)
	}
	return out
}
