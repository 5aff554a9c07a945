package streams

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Kind is the type of a defined resource.
type Kind string

// Kinds of resources.
const (
	KindStream   Kind = "stream"
	KindConsumer Kind = "consumer"
	KindBucket   Kind = "kv"
)

// Action says what Apply did to a resource, or what Diff found.
type Action string

// Apply reports created, updated or unchanged; Diff reports missing, differs or unchanged.
const (
	ActionCreated   Action = "created"
	ActionUpdated   Action = "updated"
	ActionUnchanged Action = "unchanged"
	ActionMissing   Action = "missing"
	ActionDiffers   Action = "differs"
)

// Change is the outcome for one resource.
type Change struct {
	Kind Kind
	Name string
	// Stream is the stream a consumer belongs to; empty for streams and buckets.
	Stream string
	Action Action
	// Fields lists what differed before an update (Apply) or differs now (Diff).
	Fields []FieldDiff
}

// FieldDiff is one field whose live value differs from the definition.
type FieldDiff struct {
	// Path is the JSON name of the field, dotted for nested objects ("placement.tags").
	Path string
	// Live is the server's value; nil when the server has none. Numbers are int64 or float64.
	Live any
	// Want is the definition's value.
	Want any
}

// String gives a one-line summary for logs and terminals, such as
// "consumer AI_CHAT/chat-retrieve: differs (max_deliver: live 9, want 5)".
func (c Change) String() string {
	var b strings.Builder
	b.WriteString(string(c.Kind))
	b.WriteByte(' ')
	if c.Stream != "" {
		b.WriteString(c.Stream)
		b.WriteByte('/')
	}
	b.WriteString(c.Name)
	b.WriteString(": ")
	b.WriteString(string(c.Action))
	for i, f := range c.Fields {
		if i == 0 {
			b.WriteString(" (")
		} else {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "%s: live %s, want %s", f.Path, showValue(f.Live), showValue(f.Want))
	}
	if len(c.Fields) > 0 {
		b.WriteByte(')')
	}
	return b.String()
}

func showValue(v any) string {
	if v == nil {
		return "unset"
	}
	j, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(j)
}
