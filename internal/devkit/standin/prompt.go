package standin

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// The stand-in LLM answers from the context it is given, so a test can tell whether retrieval
// and reranking reached the prompt, and in which order. The convention the chat worker follows:
//
//   - Each retrieved passage is one line of a system or user message, in ranked order, best
//     first: "[source 1] <text>", "[source 2] <text>", ... The tag is case-insensitive, spaces
//     around it are ignored and a colon after "]" is allowed; a passage's own line breaks must be
//     replaced by spaces.
//   - The stand-in reads the last system or user message that holds at least one such line, and
//     takes the non-empty source with the lowest number. It answers
//     "According to [source N]: <first sentence of that source>".
//   - With no source lines anywhere, it answers honestly that it has no context, echoing the
//     question (the last user message, whitespace collapsed):
//     "I have no sources to answer from. You asked: <question>".
//
// The first sentence ends at the first '.', '!', '?' or '…' followed by a space or the end of
// the text, or at the first '。', '！' or '？'; without one it is the whole passage.

const (
	answerPrefix    = "According to [source "
	noContextAnswer = "I have no sources to answer from."
)

// source is one "[source N] text" line of a prompt.
type source struct {
	n    int
	text string
}

// promptMessage is a chat message reduced to its role and text.
type promptMessage struct {
	role, text string
}

// parseSources returns the source lines of content in the order they appear.
func parseSources(content string) []source {
	var out []source
	for line := range strings.Lines(content) {
		line = strings.TrimSpace(line)
		const tag = "[source"
		if len(line) < len(tag) || !strings.EqualFold(line[:len(tag)], tag) {
			continue
		}
		rest := strings.TrimLeft(line[len(tag):], " \t")
		digits := 0
		for digits < len(rest) && digits < 9 && rest[digits] >= '0' && rest[digits] <= '9' {
			digits++
		}
		if digits == 0 {
			continue
		}
		n, _ := strconv.Atoi(rest[:digits])
		rest = strings.TrimLeft(rest[digits:], " \t")
		if !strings.HasPrefix(rest, "]") {
			continue
		}
		text := strings.TrimSpace(rest[1:])
		text = strings.TrimSpace(strings.TrimPrefix(text, ":"))
		out = append(out, source{n: n, text: text})
	}
	return out
}

// composeAnswer is the stand-in LLM: see the convention above.
func composeAnswer(msgs []promptMessage) string {
	for i := len(msgs) - 1; i >= 0; i-- {
		if !readsSources(msgs[i].role) {
			continue
		}
		sources := parseSources(msgs[i].text)
		if len(sources) == 0 {
			continue
		}
		best := source{n: -1}
		for _, s := range sources {
			if s.text != "" && (best.n < 0 || s.n < best.n) {
				best = s
			}
		}
		if best.n >= 0 {
			return answerPrefix + strconv.Itoa(best.n) + "]: " + firstSentence(best.text)
		}
		break
	}
	question := ""
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].role == "user" {
			question = strings.Join(strings.Fields(msgs[i].text), " ")
			break
		}
	}
	if question == "" {
		return noContextAnswer + " You asked nothing."
	}
	return noContextAnswer + " You asked: " + question
}

func readsSources(role string) bool {
	return role == "system" || role == "user" || role == "developer"
}

// firstSentence returns the first sentence of text, whitespace collapsed.
func firstSentence(text string) string {
	text = strings.Join(strings.Fields(text), " ")
	for i, r := range text {
		switch r {
		case '。', '！', '？':
			return text[:i+utf8.RuneLen(r)]
		case '.', '!', '?', '…':
			end := i + utf8.RuneLen(r)
			if end == len(text) || text[end] == ' ' {
				return text[:end]
			}
		}
	}
	return text
}
