// Package healthlog finds the address a worker's health server bound in the worker's own log,
// so that a test or a measurement can start a worker with HEALTH_ADDR=AnyPort instead of
// choosing a free port by listening and closing, which races with every other process that
// takes a port in between.
//
// The worker must log as JSON (internal/worker.Main does) at LOG_LEVEL info or debug: the line
// read is internal/health's "health server listening", with the bound address under "addr".
package healthlog

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
)

// AnyPort is a HEALTH_ADDR that lets the health server take any free loopback port.
const AnyPort = "127.0.0.1:0"

// listeningMsg is what internal/health logs once its listener is bound.
const listeningMsg = "health server listening"

// maxLine bounds the unfinished line kept between writes: a log line is short, and output that
// is not a log (a panic's stack) must not grow the buffer without end.
const maxLine = 64 << 10

// ErrExited is returned by Addr when the worker exited without logging the address.
var ErrExited = errors.New("the worker exited before its health server listened (is its LOG_LEVEL info or debug?)")

// Watcher is a worker's output writer: it passes everything on to the writer it wraps and
// notes the address of the first "health server listening" line. Give it as both Stdout and
// Stderr of the exec.Cmd (the same value, so that os/exec copies both through one pipe).
type Watcher struct {
	found chan struct{} // closed once addr is set

	mu      sync.Mutex
	out     io.Writer
	partial []byte // the last, unfinished line
	addr    string
}

// Watch returns a Watcher passing the output on to out.
func Watch(out io.Writer) *Watcher {
	return &Watcher{out: out, found: make(chan struct{})}
}

// Write passes p on and looks for the address in the lines it completes.
func (w *Watcher) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.addr == "" {
		w.scan(p)
	}
	return w.out.Write(p)
}

func (w *Watcher) scan(p []byte) {
	w.partial = append(w.partial, p...)
	data := w.partial
	for {
		line, rest, ok := bytes.Cut(data, []byte("\n"))
		if !ok {
			break
		}
		data = rest
		if addr, ok := listeningAddr(line); ok {
			w.addr, w.partial = addr, nil
			close(w.found)
			return
		}
	}
	if len(data) > maxLine {
		data = nil
	}
	w.partial = bytes.Clone(data)
}

func listeningAddr(line []byte) (string, bool) {
	if !bytes.Contains(line, []byte(listeningMsg)) {
		return "", false
	}
	var rec struct {
		Msg  string `json:"msg"`
		Addr string `json:"addr"`
	}
	if err := json.Unmarshal(line, &rec); err != nil || rec.Msg != listeningMsg || rec.Addr == "" {
		return "", false
	}
	return rec.Addr, true
}

// Addr waits until the worker has logged its health server's address and returns it. It gives
// up with ErrExited once exited is closed, which the caller does after exec.Cmd.Wait returned
// (nil when there is no process to watch), or when ctx ends.
func (w *Watcher) Addr(ctx context.Context, exited <-chan struct{}) (string, error) {
	select {
	case <-w.found:
	case <-exited:
		// Wait has returned, so os/exec has copied all the output: the line may have been
		// among the last.
		select {
		case <-w.found:
		default:
			return "", ErrExited
		}
	case <-ctx.Done():
		return "", fmt.Errorf("waiting for the health server's address in the worker's log: %w", ctx.Err())
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.addr, nil
}
