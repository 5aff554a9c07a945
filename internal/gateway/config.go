package gateway

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"connectrpc.com/connect"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// Defaults of Config.
const (
	DefaultGracePeriod   = 30 * time.Second
	DefaultMaxWait       = 5 * time.Minute
	DefaultRecheck       = 2 * time.Second
	DefaultVoicesTimeout = 5 * time.Second
)

// Config is what a Server is built from.
type Config struct {
	// NC is the NATS connection requests are published and results read on. Required.
	NC *nats.Conn
	// JS is the JetStream context on NC. Required.
	JS jetstream.JetStream
	// Interceptors run around every RPC, outermost first, after the gateway's own tracing and
	// before its validation: authentication goes here (cmd/gateway passes gateway/auth's).
	Interceptors []connect.Interceptor
	// Middleware wraps the whole handler, outermost first: what must see the HTTP request
	// itself (authentication recording the verified client certificate for its interceptor).
	Middleware []func(http.Handler) http.Handler
	// Page, when set, is served at / and under it (everything that is not an RPC path, health
	// or reflection), without the interceptors: the page's static files need no key.
	Page http.Handler
	// Log receives the gateway's logs; nil discards them.
	Log *slog.Logger
	// Tracer and Meter record a span and metrics per RPC (otelconnect) and the span context
	// travels into the stages in the published request's headers; nil = the global providers.
	Tracer trace.TracerProvider
	Meter  metric.MeterProvider
	// TLS, when set, makes Run serve TLS (HTTP/2 by ALPN); its ClientAuth and ClientCAs decide
	// whether client certificates are asked for (mTLS). nil = plain HTTP/1.1 and HTTP/2 (h2c).
	TLS *tls.Config
	// UserID, when set, names the caller of a call (the API key's or client certificate's
	// name, from the authentication interceptor): it replaces the request's user_id, so the
	// workers and the dead letters record who asked. nil = the user_id the client sent.
	UserID func(ctx context.Context) (string, bool)
	// GracePeriod bounds how long Run lets in-flight calls finish after its context ends;
	// 0 = DefaultGracePeriod. Requests already published complete in the workers regardless,
	// and their results stay readable in AI_RESULTS.
	GracePeriod time.Duration
	// MaxWait bounds a call whose caller set no deadline; 0 = DefaultMaxWait. The request
	// itself is published without a deadline then: it completes even if nobody waits.
	MaxWait time.Duration
	// Recheck is how often a waiting call reads the stream although no wake-up came (one lost
	// to a reconnect); 0 = DefaultRecheck.
	Recheck time.Duration
	// VoicesTimeout bounds the request to tts-module's voices service; 0 = DefaultVoicesTimeout.
	VoicesTimeout time.Duration
}

// ErrInvalidConfig is matched by every error Validate returns.
var ErrInvalidConfig = errors.New("invalid gateway configuration")

// Validate reports a missing or out-of-range field.
func (c *Config) Validate() error {
	switch {
	case c.NC == nil:
		return fmt.Errorf("%w: NC is required", ErrInvalidConfig)
	case c.JS == nil:
		return fmt.Errorf("%w: JS is required", ErrInvalidConfig)
	case c.GracePeriod < 0, c.MaxWait < 0, c.Recheck < 0, c.VoicesTimeout < 0:
		return fmt.Errorf("%w: durations must not be negative", ErrInvalidConfig)
	}
	return nil
}

func (c *Config) withDefaults() {
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if c.GracePeriod == 0 {
		c.GracePeriod = DefaultGracePeriod
	}
	if c.MaxWait == 0 {
		c.MaxWait = DefaultMaxWait
	}
	if c.Recheck == 0 {
		c.Recheck = DefaultRecheck
	}
	if c.VoicesTimeout == 0 {
		c.VoicesTimeout = DefaultVoicesTimeout
	}
}
