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
// otherwise (the caller's context error, ErrTimeout, or a retryable cut-off), so that a decoder
// reading it can pass errors on unchanged.
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
}

// Read reads the body.
func (r *Response) Read(p []byte) (int, error) {
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

// ReadAll reads the whole body, up to the client's MaxResponseBytes.
func (r *Response) ReadAll() ([]byte, error) {
	limit := r.client.maxBody
	body, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(body)) > limit {
		return nil, failure.Permanent(fmt.Errorf("%s: %w (%d bytes)", r.endpoint, ErrResponseTooLarge, limit))
	}
	return body, nil
}
