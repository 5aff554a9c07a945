package retrieval

import (
	"strings"
)

// Filter is the part of the Milvus boolean expression language that Memory understands: one
// equality of a metadata key with a string literal, `lang == "en"` (single quotes work too, and
// \" \' \\ escape inside the literal). It is enough to scope a search to a tenant or a source,
// which is what the workers use filters for; anything richer needs Milvus. The zero Filter
// matches every document.
type Filter struct {
	Key   string
	Value string
}

// ParseFilter parses expr; an empty or blank expr gives the zero Filter. Its errors are permanent
// and match ErrInvalidQuery, because a filter that does not parse never will.
func ParseFilter(expr string) (Filter, error) {
	p := filterParser{s: expr}
	p.space()
	if p.done() {
		return Filter{}, nil
	}
	key, ok := p.ident()
	if !ok {
		return Filter{}, invalidf("filter %q: want a field name at offset %d", expr, p.i)
	}
	p.space()
	if !strings.HasPrefix(p.s[p.i:], "==") {
		return Filter{}, invalidf("filter %q: want == after %q (only key == \"value\" is supported)", expr, key)
	}
	p.i += 2
	p.space()
	value, ok := p.literal()
	if !ok {
		return Filter{}, invalidf("filter %q: want a quoted string at offset %d", expr, p.i)
	}
	p.space()
	if !p.done() {
		return Filter{}, invalidf("filter %q: unexpected %q at offset %d (only key == \"value\" is supported)", expr, p.s[p.i:], p.i)
	}
	return Filter{Key: key, Value: value}, nil
}

// Match reports whether a document with this metadata passes the filter. A document without the
// key does not match.
func (f Filter) Match(metadata map[string]string) bool {
	if f.Key == "" {
		return true
	}
	v, ok := metadata[f.Key]
	return ok && v == f.Value
}

type filterParser struct {
	s string
	i int
}

func (p *filterParser) done() bool { return p.i >= len(p.s) }

func (p *filterParser) space() {
	for !p.done() && strings.IndexByte(" \t\r\n", p.s[p.i]) >= 0 {
		p.i++
	}
}

func (p *filterParser) ident() (string, bool) {
	start := p.i
	for !p.done() {
		c := p.s[p.i]
		letter := c == '_' || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z')
		digit := '0' <= c && c <= '9' && p.i > start // not first
		if !letter && !digit {
			break
		}
		p.i++
	}
	return p.s[start:p.i], p.i > start
}

func (p *filterParser) literal() (string, bool) {
	if p.done() || (p.s[p.i] != '"' && p.s[p.i] != '\'') {
		return "", false
	}
	quote := p.s[p.i]
	p.i++
	var b strings.Builder
	for !p.done() {
		c := p.s[p.i]
		p.i++
		switch c {
		case quote:
			return b.String(), true
		case '\\':
			if p.done() || strings.IndexByte(`"'\`, p.s[p.i]) < 0 {
				return "", false
			}
			b.WriteByte(p.s[p.i])
			p.i++
		default:
			b.WriteByte(c)
		}
	}
	return "", false
}
