package client

import (
	"crypto/rand"
	"encoding/hex"
	"flag"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"connectrpc.com/connect"
)

// DefaultGatewayPort is the port `jetflow dev` serves the gateway on unless told otherwise, so
// that the client commands reach it with no flag; cmd/gateway's GATEWAY_ADDR defaults to it too.
const DefaultGatewayPort = 8081

// DefaultGateway is the gateway the commands call when neither --gateway nor JETFLOW_GATEWAY is
// set: the one `jetflow dev` runs (on DefaultGatewayPort).
const DefaultGateway = "http://127.0.0.1:8081"

// DevKeyPath is where `jetflow dev`, run from the same directory with its default --data, keeps
// the development API key of its run. The commands use it when JETFLOW_API_KEY is unset and the
// gateway is on this machine, so `make run` then `jetflow chat` needs nothing copied.
const DevKeyPath = ".jetflow/data/dev-api-key"

// Environment variables the commands read.
const (
	envGateway = "JETFLOW_GATEWAY"
	envAPIKey  = "JETFLOW_API_KEY"
)

// envHelp is the part of every command's help about the gateway and the key.
const envHelp = `
The gateway is --gateway, else JETFLOW_GATEWAY, else ` + DefaultGateway + ` (where jetflow dev
serves it); the API key is JETFLOW_API_KEY (jetflow dev prints a development key).
`

// gateway is where a command sends its calls, and as whom.
type gateway struct {
	url     string
	key     string
	keyFrom string // where key came from, for the errors
	timeout time.Duration
}

// gatewayFlags are the flags every client command has.
type gatewayFlags struct {
	url     string
	timeout time.Duration
}

func addGatewayFlags(fs *flag.FlagSet, defaultTimeout time.Duration) *gatewayFlags {
	f := &gatewayFlags{}
	fs.StringVar(&f.url, "gateway", "", "gateway URL (default JETFLOW_GATEWAY, else "+DefaultGateway+")")
	fs.DurationVar(&f.timeout, "timeout", defaultTimeout, "give up after this long (the deadline the gateway carries into the workers)")
	return f
}

// resolve checks the flags against the environment and returns the gateway to call.
func (f *gatewayFlags) resolve(env Env) (gateway, error) {
	lookup := env.lookup()
	raw := f.url
	if raw == "" {
		if v, ok := lookup(envGateway); ok && strings.TrimSpace(v) != "" {
			raw = strings.TrimSpace(v)
		} else {
			raw = DefaultGateway
		}
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return gateway{}, usageErrorf("gateway %q is not an http:// or https:// URL with a host (--gateway or %s)", raw, envGateway)
	}
	if f.timeout <= 0 {
		return gateway{}, usageErrorf("--timeout must be positive, got %s", f.timeout)
	}
	gw := gateway{url: strings.TrimRight(u.String(), "/"), timeout: f.timeout}
	if key, ok := lookup(envAPIKey); ok && strings.TrimSpace(key) != "" {
		gw.key, gw.keyFrom = strings.TrimSpace(key), envAPIKey
	} else if isLoopback(u.Hostname()) {
		gw.key, gw.keyFrom = readDevKey(env.devKeyPath())
	}
	return gw, nil
}

// isLoopback says host is this machine: only there is a development key sent unasked.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// readDevKey reads the development key jetflow dev wrote, if there is one.
func readDevKey(path string) (key, from string) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", ""
	}
	key = strings.TrimSpace(string(data))
	if key == "" || len(key) > 256 || strings.ContainsAny(key, " \t\r\n") {
		return "", ""
	}
	return key, path
}

// httpClient is the client of the generated service clients: it sends the key as a bearer
// token on every call. No overall timeout: streams last as long as their context.
func (g gateway) httpClient() connect.HTTPClient {
	return bearer{key: g.key, next: &http.Client{Transport: http.DefaultTransport}}
}

// bearer adds the API key to each request.
type bearer struct {
	key  string
	next *http.Client
}

func (b bearer) Do(req *http.Request) (*http.Response, error) {
	if b.key != "" {
		req.Header.Set("Authorization", "Bearer "+b.key)
	}
	return b.next.Do(req)
}

// newRequestID makes a request id the gateway accepts ([A-Za-z0-9_-]{1,128}).
func newRequestID(prefix string) string {
	b := make([]byte, 12)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (it panics on a broken system source)
	return prefix + "-" + hex.EncodeToString(b)
}
