package modelhttp

import (
	"net"
	"net/http"
	"time"
)

// NewHTTPClient returns the client every model client uses unless WithHTTPClient says otherwise.
// It has no overall Timeout (calls are bounded by their context, and streams may legitimately
// run for minutes) but bounded dialing and TLS handshakes, so a dead host fails in seconds, and
// enough idle connections per host for a worker pool hitting one model server.
func NewHTTPClient() *http.Client {
	return &http.Client{Transport: &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: (&net.Dialer{
			Timeout:   5 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          256,
		MaxIdleConnsPerHost:   128, // above a stage's concurrency (64 for chat-generate), so no call re-dials
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}}
}
