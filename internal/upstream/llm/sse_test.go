package llm

import (
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
)

func readAllEvents(r io.Reader, max int) ([]sseEvent, error) {
	s := newSSEReader(r, max)
	var out []sseEvent
	for {
		ev, err := s.Next()
		if err != nil {
			return out, err
		}
		out = append(out, ev)
	}
}

func TestSSEReader(t *testing.T) {
	tests := []struct {
		name  string
		input string
		want  []sseEvent
	}{
		{name: "vllm", input: "data: {\"a\":1}\n\ndata: [DONE]\n\n", want: []sseEvent{{Data: `{"a":1}`}, {Data: "[DONE]"}}},
		{name: "no space after colon", input: "data:x\n\n", want: []sseEvent{{Data: "x"}}},
		{name: "only one space is dropped", input: "data:  x\n\n", want: []sseEvent{{Data: " x"}}},
		{name: "crlf", input: "data: a\r\n\r\ndata: b\r\n\r\n", want: []sseEvent{{Data: "a"}, {Data: "b"}}},
		{name: "lone cr", input: "data: a\r\rdata: b\r\r", want: []sseEvent{{Data: "a"}, {Data: "b"}}},
		{name: "comments", input: ": ping\n\n:keep-alive\ndata: a\n\n", want: []sseEvent{{Data: "a"}}},
		{name: "multi-line data", input: "data: a\ndata: b\ndata:\n\n", want: []sseEvent{{Data: "a\nb\n"}}},
		{name: "blank lines without data", input: "\n\n\n\ndata: a\n\n\n", want: []sseEvent{{Data: "a"}}},
		{name: "event field ignored", input: "event: error\ndata: x\n\ndata: y\n\n", want: []sseEvent{{Data: "x"}, {Data: "y"}}},
		{name: "event without data is dropped", input: "event: ping\n\ndata: y\n\n", want: []sseEvent{{Data: "y"}}},
		{name: "id field ignored", input: "id: 7\ndata: a\n\nid\ndata: b\n\n", want: []sseEvent{{Data: "a"}, {Data: "b"}}},
		{name: "field without colon", input: "data\n\n", want: []sseEvent{{Data: ""}}},
		{name: "unknown fields and retry", input: "retry: 10\nfoo: bar\ndata: a\n\n", want: []sseEvent{{Data: "a"}}},
		{name: "bom", input: "\uFEFFdata: a\n\n", want: []sseEvent{{Data: "a"}}},
		{name: "cut off mid-event", input: "data: a\n\ndata: b\n", want: []sseEvent{{Data: "a"}}},
		{name: "cut off mid-line", input: "data: a\n\ndata: {\"cho", want: []sseEvent{{Data: "a"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, split := range []bool{false, true} {
				var r io.Reader = strings.NewReader(tt.input)
				if split {
					r = iotest.OneByteReader(r) // terminators split across reads
				}
				got, err := readAllEvents(r, 1<<10)
				if !errors.Is(err, io.EOF) {
					t.Fatalf("err = %v, want io.EOF", err)
				}
				if !slices.Equal(got, tt.want) {
					t.Fatalf("split=%v events = %q, want %q", split, got, tt.want)
				}
			}
		})
	}
}

func TestSSEReaderLimits(t *testing.T) {
	tests := []struct {
		name  string
		input string
	}{
		{name: "long line", input: "data: " + strings.Repeat("x", 100) + "\n\n"},
		{name: "long event", input: strings.Repeat("data: "+strings.Repeat("x", 30)+"\n", 5) + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := readAllEvents(strings.NewReader(tt.input), 64); !errors.Is(err, errEventTooLarge) {
				t.Fatalf("err = %v, want errEventTooLarge", err)
			}
		})
	}
}

func TestSSEReaderPassesReadErrors(t *testing.T) {
	boom := errors.New("connection reset")
	r := io.MultiReader(strings.NewReader("data: a\n\ndata: b"), iotest.ErrReader(boom))
	got, err := readAllEvents(r, 1<<10)
	if !errors.Is(err, boom) || len(got) != 1 {
		t.Fatalf("events %q, err %v; want one event and the read error", got, err)
	}
}

// FuzzSSE checks that no input panics the parser, that data never holds a CR, and that events
// written back out in canonical form parse to the same data.
func FuzzSSE(f *testing.F) {
	for _, seed := range []string{
		"data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\ndata: [DONE]\n\n",
		"data:x\r\n\r\n: comment\r\ndata: y\rdata: z\r\r",
		"\uFEFFevent: error\nid: 1\nretry: 5\ndata\ndata: a\n\n",
		"data: a\n\ndata: b",
		"\r\n\r\r\n\n",
		"data: {\"error\":{\"message\":\"boom\",\"code\":500}}\n\ndata: [DONE]\n\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, input []byte) {
		events, err := readAllEvents(strings.NewReader(string(input)), 1<<12)
		if errors.Is(err, errEventTooLarge) {
			return
		}
		var canonical strings.Builder
		for _, ev := range events {
			if strings.ContainsRune(ev.Data, '\r') {
				t.Fatalf("data %q holds a CR", ev.Data)
			}
			for line := range strings.SplitSeq(ev.Data, "\n") {
				canonical.WriteString("data: " + line + "\n")
			}
			canonical.WriteString("\n")
		}
		again, err := readAllEvents(strings.NewReader(canonical.String()), 1<<13)
		if !errors.Is(err, io.EOF) {
			t.Fatalf("reparse: %v", err)
		}
		if len(again) != len(events) {
			t.Fatalf("reparse gave %d events, want %d", len(again), len(events))
		}
		for i := range events {
			if again[i].Data != events[i].Data {
				t.Fatalf("event %d: %q, reparsed %q", i, events[i].Data, again[i].Data)
			}
		}
	})
}
