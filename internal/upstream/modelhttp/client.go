package modelhttp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/jetflow-dev/jetflow/internal/failure"
	"github.com/jetflow-dev/jetflow/internal/telemetry/tracecontext"
)

// Client sends requests to one model server endpoint. It is safe for concurrent use.
type Client struct {
	base    string // BaseURL without a trailing slash
	display string // base with any password redacted, for errors
	model   string
	apiKey  string
	timeout time.Duration
	hc      *http.Client
	maxBody int64
	now     func() time.Time
}

// New validates cfg and returns a client for it.
func New(cfg Config, opts ...Option) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	o := options{maxResponseBytes: DefaultMaxResponseBytes, now: time.Now}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	if o.httpClient == nil {
		o.httpClient = NewHTTPClient()
	}
	// A copy, so the caller's client is left as it was given.
	hc := *o.httpClient
	hc.Transport = tracecontext.Transport(hc.Transport)
	base := strings.TrimRight(cfg.BaseURL, "/")
	return &Client{
		base:    base,
		display: redactedURL(base),
		model:   cfg.Model,
		apiKey:  cfg.APIKey,
		timeout: cfg.timeout(),
		hc:      &hc,
		maxBody: o.maxResponseBytes,
		now:     o.now,
	}, nil
}

// Model returns the configured model name ("" for the server's default).
func (c *Client) Model() string { return c.model }

// Request is one POST to the model server.
type Request struct {
	// Path is appended to the base URL, for example "/chat/completions".
	Path string
	// ContentType of Body, for example "application/json".
	ContentType string
	// Accept is sent as the Accept header when not empty.
	Accept string
	// Body is sent as is; a byte slice lets net/http replay it on a redirect.
	Body []byte
}

// Do sends req and returns the open 2xx response; the caller must Close it. A non-2xx answer is
// returned as a classified *StatusError and the response is closed. The per-call timeout starts
// here and ends at Close, so a stream is bounded as a whole.
func (c *Client) Do(ctx context.Context, req Request) (*Response, error) {
	endpoint := http.MethodPost + " " + c.display + req.Path
	call, cancel := ctx, context.CancelFunc(func() {})
	if _, ok := ctx.Deadline(); !ok {
		call, cancel = context.WithTimeoutCause(ctx, c.timeout, ErrTimeout)
	}
	hreq, err := http.NewRequestWithContext(call, http.MethodPost, c.base+req.Path, bytes.NewReader(req.Body))
	if err != nil {
		cancel()
		return nil, failure.Permanent(fmt.Errorf("building request %s: %w", endpoint, err))
	}
	if req.ContentType != "" {
		hreq.Header.Set("Content-Type", req.ContentType)
	}
	if req.Accept != "" {
		hreq.Header.Set("Accept", req.Accept)
	}
	if c.apiKey != "" {
		hreq.Header.Set("Authorization", "Bearer "+c.apiKey)
	}
	hresp, err := c.hc.Do(hreq) //nolint:bodyclose // the body is closed by Response.Close, which the caller owns
	if err != nil {
		err = c.classifyIO(ctx, call, endpoint, err)
		cancel()
		return nil, err
	}
	resp := &Response{
		StatusCode: hresp.StatusCode,
		Header:     hresp.Header,
		body:       hresp.Body,
		parent:     ctx,
		call:       call,
		cancel:     cancel,
		client:     c,
		endpoint:   endpoint,
	}
	if hresp.StatusCode/100 == 2 {
		return resp, nil
	}
	defer resp.Close()
	se := &StatusError{StatusCode: hresp.StatusCode, Body: ReadErrorBody(hresp.Body, c.apiKey), Endpoint: endpoint}
	return nil, classifyStatus(se, hresp.Header.Get("Retry-After"), c.now())
}

// PostJSON posts in as JSON and hands the whole 2xx body to decode, as Call does.
func (c *Client) PostJSON(ctx context.Context, path string, in any, decode func(body []byte) error) error {
	payload, err := json.Marshal(in)
	if err != nil {
		return failure.Permanent(fmt.Errorf("encoding request for %s%s: %w", c.display, path, err))
	}
	return c.Call(ctx, Request{Path: path, ContentType: "application/json", Accept: "application/json", Body: payload}, decode)
}

// Call sends req and hands the whole 2xx body (up to MaxResponseBytes) to decode. An error from
// decode is marked permanent: a server that answers 2xx with a body we cannot use will answer
// the same way next time.
func (c *Client) Call(ctx context.Context, req Request, decode func(body []byte) error) error {
	resp, err := c.Do(ctx, req)
	if err != nil {
		return err
	}
	defer resp.Close()
	body, err := resp.ReadAll()
	if err != nil {
		return err
	}
	if err := decode(body); err != nil {
		return failure.Permanent(fmt.Errorf("decoding response of %s: %w", resp.endpoint, err))
	}
	return nil
}

// classifyIO turns an error from sending or reading into the caller's context error, ErrTimeout,
// or a retryable transport error.
func (c *Client) classifyIO(parent, call context.Context, endpoint string, err error) error {
	if perr := parent.Err(); perr != nil {
		return fmt.Errorf("%s: %w", endpoint, perr)
	}
	if errors.Is(context.Cause(call), ErrTimeout) {
		return fmt.Errorf("%s: %w (%v): %w", endpoint, ErrTimeout, c.timeout, context.DeadlineExceeded)
	}
	// url.Error repeats the method and URL already in endpoint.
	if ue, ok := errors.AsType[*url.Error](err); ok {
		err = ue.Err
	}
	return fmt.Errorf("%s: %w", endpoint, err)
}
