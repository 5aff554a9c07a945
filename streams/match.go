package streams

import "strings"

// subjectSubset reports whether every subject that filter matches is also matched by pattern,
// the rule the server applies to a consumer filter against its stream's subjects.
func subjectSubset(filter, pattern string) bool {
	ft := strings.Split(filter, ".")
	pt := strings.Split(pattern, ".")
	for i, p := range pt {
		if p == ">" {
			return len(ft) > i
		}
		if i >= len(ft) {
			return false
		}
		switch f := ft[i]; {
		case p == "*":
			if f == ">" {
				return false
			}
		case f != p:
			return false
		}
	}
	return len(ft) == len(pt)
}

// subjectsOverlap reports whether some subject matches both a and b: two streams may not
// capture it, and two consumers of one work-queue stream may not both filter on it.
func subjectsOverlap(a, b string) bool {
	at := strings.Split(a, ".")
	bt := strings.Split(b, ".")
	for i := 0; ; i++ {
		if i >= len(at) || i >= len(bt) {
			return len(at) == len(bt)
		}
		x, y := at[i], bt[i]
		switch {
		case x == ">" || y == ">":
			return true
		case x == "*" || y == "*" || x == y:
		default:
			return false
		}
	}
}

// subjectCovered reports whether pattern matches only subjects that one of subjects matches.
// A filter split across two stream subjects ("a.*" against "a.b" and "a.c") is not covered, the
// same as on the server.
func subjectCovered(pattern string, subjects []string) bool {
	for _, s := range subjects {
		if subjectSubset(pattern, s) {
			return true
		}
	}
	return false
}
