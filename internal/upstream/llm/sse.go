package llm

import (
	"bufio"
	"bytes"
	"errors"
	"io"
)

// errEventTooLarge is returned for a line or event longer than the reader's limit. A server
// that sends such an event will send it again, so the caller treats it as permanent.
var errEventTooLarge = errors.New("server-sent event is larger than the limit")

// sseEvent is one dispatched Server-Sent Event. Only its data is kept: OpenAI-compatible servers
// put everything, errors included, in "data:" lines, so "event:" and "id:" are ignored.
type sseEvent struct {
	// Data is the "data:" lines joined by "\n".
	Data string
}

// sseReader parses a text/event-stream body as the WHATWG HTML standard ("Server-sent events",
// "Interpreting an event stream") describes it: lines end in CRLF, LF or a lone CR; a leading
// BOM is dropped; lines starting with ':' are comments; "field:value" drops one space after the
// colon (so "data:x" and "data: x" are the same); several data lines join with "\n"; an empty
// line dispatches the event; an event cut off by the end of the stream is discarded.
//
// Lines are read byte by byte from a bufio.Reader, which keeps the lone-CR case simple and
// never needs a growing scanner buffer: a line or event past max fails with errEventTooLarge.
type sseReader struct {
	r       *bufio.Reader
	max     int
	line    []byte
	data    bytes.Buffer
	hasData bool
	skipLF  bool // the previous line ended in CR: a following LF belongs to it
	started bool // the BOM check is done
}

func newSSEReader(r io.Reader, max int) *sseReader {
	return &sseReader{r: bufio.NewReaderSize(r, 32<<10), max: max}
}

// Next returns the next event. It returns io.EOF when the stream ends, whether or not an
// incomplete event was pending, and any read error as it came.
func (s *sseReader) Next() (sseEvent, error) {
	for {
		line, err := s.readLine()
		if err != nil {
			return sseEvent{}, err
		}
		if len(line) == 0 {
			if !s.hasData {
				continue
			}
			ev := sseEvent{Data: string(bytes.TrimSuffix(s.data.Bytes(), []byte("\n")))}
			s.data.Reset()
			s.hasData = false
			return ev, nil
		}
		if line[0] == ':' {
			continue
		}
		field, value := line, []byte(nil)
		if i := bytes.IndexByte(line, ':'); i >= 0 {
			field, value = line[:i], line[i+1:]
			value = bytes.TrimPrefix(value, []byte(" "))
		}
		if string(field) != "data" {
			continue // "event", "id", "retry" and unknown fields
		}
		if s.data.Len()+len(value)+1 > s.max {
			return sseEvent{}, errEventTooLarge
		}
		s.data.Write(value)
		s.data.WriteByte('\n')
		s.hasData = true
	}
}

// readLine returns the next line without its terminator. The slice is valid until the next call.
func (s *sseReader) readLine() ([]byte, error) {
	s.line = s.line[:0]
	for {
		b, err := s.r.ReadByte()
		if err != nil {
			return nil, err
		}
		if s.skipLF {
			s.skipLF = false
			if b == '\n' {
				continue
			}
		}
		switch b {
		case '\n':
			return s.endLine(), nil
		case '\r':
			s.skipLF = true
			return s.endLine(), nil
		}
		if len(s.line) >= s.max {
			return nil, errEventTooLarge
		}
		s.line = append(s.line, b)
	}
}

// endLine drops a UTF-8 byte order mark from the stream's first line.
func (s *sseReader) endLine() []byte {
	if !s.started {
		s.started = true
		return bytes.TrimPrefix(s.line, []byte("\uFEFF"))
	}
	return s.line
}
