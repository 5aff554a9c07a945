// Package natsconn opens the NATS connection of a jetflow process from the environment, with
// credentials and TLS, reconnecting forever and logging every change of state.
package natsconn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/jetflow-dev/jetflow/internal/envconfig"
)

// Config says where and how to connect. Secrets are paths or values that are never logged.
type Config struct {
	// URL of the server(s), comma-separated. Default nats://127.0.0.1:4222.
	URL string
	// Name shown in the server's connection list (`nats server report connections`).
	Name string
	// CredsFile is a JWT+nkey creds file (NATS_CREDS).
	CredsFile string
	// NKeyFile is an nkey seed file (NATS_NKEY).
	NKeyFile string
	// User and Password (NATS_USER, NATS_PASSWORD).
	User, Password string
	// Token (NATS_TOKEN).
	Token string
	// TLS files (NATS_TLS_CA, NATS_TLS_CERT, NATS_TLS_KEY). A CA alone verifies the server;
	// cert and key add a client certificate.
	TLSCA, TLSCert, TLSKey string
	// ConnectTimeout bounds the first connection. 0 means 10s.
	ConnectTimeout time.Duration
}

// FromEnv reads the NATS_* variables.
func FromEnv(r *envconfig.Reader, name string) Config {
	c := Config{
		URL:            r.String("NATS_URL", nats.DefaultURL),
		Name:           name,
		CredsFile:      r.File("NATS_CREDS", ""),
		NKeyFile:       r.File("NATS_NKEY", ""),
		User:           r.String("NATS_USER", ""),
		Password:       r.String("NATS_PASSWORD", ""),
		Token:          r.String("NATS_TOKEN", ""),
		TLSCA:          r.File("NATS_TLS_CA", ""),
		TLSCert:        r.File("NATS_TLS_CERT", ""),
		TLSKey:         r.File("NATS_TLS_KEY", ""),
		ConnectTimeout: r.Duration("NATS_CONNECT_TIMEOUT", 10*time.Second, 100*time.Millisecond, 5*time.Minute),
	}
	if err := c.Validate(); err != nil {
		r.Fail("NATS_*", "%v", err)
	}
	return c
}

// Validate checks that the settings make sense together.
func (c Config) Validate() error {
	var errs []error
	for _, u := range splitURLs(c.URL) {
		p, err := url.Parse(u)
		if err != nil || p.Host == "" {
			errs = append(errs, errors.New("NATS_URL must be a list of URLs such as nats://host:4222"))
			break
		}
	}
	methods := 0
	for _, set := range []bool{c.CredsFile != "", c.NKeyFile != "", c.User != "", c.Token != ""} {
		if set {
			methods++
		}
	}
	if methods > 1 {
		errs = append(errs, errors.New("set only one of NATS_CREDS, NATS_NKEY, NATS_USER/NATS_PASSWORD, NATS_TOKEN"))
	}
	if c.User != "" && c.Password == "" {
		errs = append(errs, errors.New("NATS_USER needs NATS_PASSWORD"))
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		errs = append(errs, errors.New("NATS_TLS_CERT and NATS_TLS_KEY go together"))
	}
	return errors.Join(errs...)
}

// LogValue keeps secrets out of logs: only which methods are configured is shown.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("url", redactURL(c.URL)),
		slog.String("name", c.Name),
		slog.Bool("creds", c.CredsFile != ""),
		slog.Bool("nkey", c.NKeyFile != ""),
		slog.Bool("user", c.User != ""),
		slog.Bool("token", c.Token != ""),
		slog.Bool("tls", c.TLSCA != "" || c.TLSCert != ""),
	)
}

func (c Config) options(log *slog.Logger) ([]nats.Option, error) {
	opts := []nats.Option{
		nats.Name(c.Name),
		nats.MaxReconnects(-1), // a worker without its broker is useless; never give up
		nats.ReconnectWait(time.Second),
		nats.ReconnectJitter(500*time.Millisecond, 2*time.Second),
		nats.RetryOnFailedConnect(false),
		nats.Timeout(c.ConnectTimeout),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err == nil { // our own drain or close at shutdown
				log.Info("disconnected from NATS")
				return
			}
			log.Warn("disconnected from NATS", "error", err)
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			log.Info("reconnected to NATS", "server", redactURL(nc.ConnectedUrl()))
		}),
		nats.ClosedHandler(func(*nats.Conn) { log.Info("NATS connection closed") }),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			subject := ""
			if sub != nil {
				subject = sub.Subject
			}
			log.Error("NATS async error", "subject", subject, "error", err)
		}),
	}
	switch {
	case c.CredsFile != "":
		opts = append(opts, nats.UserCredentials(c.CredsFile))
	case c.NKeyFile != "":
		o, err := nats.NkeyOptionFromSeed(c.NKeyFile)
		if err != nil {
			return nil, fmt.Errorf("reading NATS_NKEY seed file: %w", err)
		}
		opts = append(opts, o)
	case c.User != "":
		opts = append(opts, nats.UserInfo(c.User, c.Password))
	case c.Token != "":
		opts = append(opts, nats.Token(c.Token))
	}
	if c.TLSCA != "" {
		opts = append(opts, nats.RootCAs(c.TLSCA))
	}
	if c.TLSCert != "" {
		opts = append(opts, nats.ClientCert(c.TLSCert, c.TLSKey))
	}
	return opts, nil
}

// Connect opens the connection. The first connection must succeed within ConnectTimeout (a
// worker that cannot reach its broker at start should fail loudly and be restarted); after that
// it reconnects forever.
func Connect(ctx context.Context, c Config, log *slog.Logger) (*nats.Conn, error) {
	if c.URL == "" {
		c.URL = nats.DefaultURL
	}
	if c.ConnectTimeout == 0 {
		c.ConnectTimeout = 10 * time.Second
	}
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("checking NATS settings: %w", err)
	}
	opts, err := c.options(log)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(c.ConnectTimeout)
	wait := 100 * time.Millisecond
	for {
		nc, err := nats.Connect(c.URL, opts...)
		if err == nil {
			log.Info("connected to NATS", "server", redactURL(nc.ConnectedUrl()), "max_payload", nc.MaxPayload())
			return nc, nil
		}
		if time.Now().Add(wait).After(deadline) {
			return nil, fmt.Errorf("connecting to NATS at %s: %w", redactURL(c.URL), err)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("connecting to NATS: %w", ctx.Err())
		case <-time.After(wait):
		}
		wait = min(wait*2, 2*time.Second)
	}
}

func splitURLs(s string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == ',' {
			if part := s[start:i]; part != "" {
				out = append(out, part)
			}
			start = i + 1
		}
	}
	return out
}

// redactURL removes user info from each URL of a list.
func redactURL(s string) string {
	parts := splitURLs(s)
	for i, p := range parts {
		if u, err := url.Parse(p); err == nil && u.User != nil {
			u.User = url.User("redacted")
			parts[i] = u.String()
		}
	}
	out := ""
	for i, p := range parts {
		if i > 0 {
			out += ","
		}
		out += p
	}
	return out
}
