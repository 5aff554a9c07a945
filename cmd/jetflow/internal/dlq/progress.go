package dlq

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// progress draws a one-line progress bar on a terminal, at most every redraw.
type progress struct {
	w       io.Writer
	enabled bool
	label   string
	total   int
	last    time.Time
	drawn   bool
}

const (
	redraw   = 100 * time.Millisecond
	barWidth = 30
)

func newProgress(w io.Writer, enabled bool, label string, total int) *progress {
	return &progress{w: w, enabled: enabled && total > 0, label: label, total: total}
}

func (p *progress) update(done int, counts string) {
	if !p.enabled || (done < p.total && time.Since(p.last) < redraw) {
		return
	}
	p.last = time.Now()
	filled := barWidth * done / p.total
	fmt.Fprintf(p.w, "\r%s [%s%s] %d/%d  %s\x1b[K", p.label, strings.Repeat("=", filled), strings.Repeat(" ", barWidth-filled), done, p.total, counts)
	p.drawn = true
}

// clear erases the bar so that a message can be printed on its own line; the next update
// draws it again.
func (p *progress) clear() {
	if p.drawn {
		fmt.Fprint(p.w, "\r\x1b[K")
		p.drawn = false
		p.last = time.Time{}
	}
}

func (p *progress) finish() {
	if p.drawn {
		fmt.Fprintln(p.w)
		p.drawn = false
	}
}
