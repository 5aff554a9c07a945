package modelhttp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/jetflow-dev/jetflow/internal/failure"
)

// Response is an open 2xx answer. Reading it returns io.EOF at the end and classified errors
// otherwise (the caller's context error, ErrTimeout, a retryable cut-off, or a permanent
// ErrResponseTooLarge past the client's MaxResponseBytes), so that a decoder reading it can pass
// errors on unchanged.
type Response struct {
	// StatusCode is the 2xx status.
	StatusCode int
	// Header holds the response headers.
	Header http.Header

	body     io.ReadCloser
	parent   context.Context // the caller's, to tell cancellation from our own timeout
	call     context.Context
	cancel   context.CancelFunc
	client   *Client
	endpoint string
	read     int64 // bytes of the body returned so far
}

// Read reads the body. It returns at most the client's MaxResponseBytes in all, then fails with
// a permanent ErrResponseTooLarge if the body goes on, so a stream (speech audio, an LLM's
// events) is bounded like a body read whole.
func (r *Response) Read(p []byte) (int, error) {
	limit := r.client.maxBody
	if r.read >= limit {
		// Only one more byte tells a body of exactly the limit from a longer one.
		var probe [1]byte
		n, err := r.readBody(probe[:])
		if n > 0 {
			return 0, failure.Permanent(fmt.Errorf("%s: %w (%d bytes)", r.endpoint, ErrResponseTooLarge, limit))
		}
		return 0, err
	}
	if left := limit - r.read; int64(len(p)) > left {
		p = p[:left]
	}
	n, err := r.readBody(p)
	r.read += int64(n)
	return n, err
}

func (r *Response) readBody(p []byte) (int, error) {
	n, err := r.body.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		err = r.client.classifyIO(r.parent, r.call, r.endpoint, fmt.Errorf("reading response: %w", err))
	}
	return n, err
}

// Close closes the body at once, which drops the connection mid-stream, and ends the per-call
// timeout. It is safe to call more than once.
func (r *Response) Close() error {
	err := r.body.Close()
	r.cancel()
	return err
}

// Endpoint returns the method and redacted URL, for error messages.
func (r *Response) Endpoint() string { return r.endpoint }

// ReadAll reads the whole body, failing as Read does past the client's MaxResponseBytes.
func (r *Response) ReadAll() ([]byte, error) {
	body, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	return body, nil
}
