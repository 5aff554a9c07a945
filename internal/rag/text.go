package rag

import "unicode/utf8"

// TruncateUTF8 cuts s to at most n bytes without splitting a character: a split one would
// reach the model (or a session's history) as an invalid byte sequence.
func TruncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
