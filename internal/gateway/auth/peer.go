package auth

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
)

type peerCertKey struct{}

// Middleware records the client certificate the TLS handshake verified, for the interceptor:
// connect-go gives interceptors the peer's address but not its TLS state. Only verified
// chains count; a certificate the server did not verify identifies nobody.
func (a *Authenticator) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 && len(r.TLS.VerifiedChains[0]) > 0 {
			r = r.WithContext(context.WithValue(r.Context(), peerCertKey{}, r.TLS.VerifiedChains[0][0]))
		}
		next.ServeHTTP(w, r)
	})
}

func peerCertFrom(ctx context.Context) *x509.Certificate {
	cert, _ := ctx.Value(peerCertKey{}).(*x509.Certificate)
	return cert
}

// ConfigureClientCerts makes a TLS server ask for client certificates and verify them against
// the PEM CAs in caFile. A certificate stays optional, so callers with API keys need none.
func ConfigureClientCerts(tlsConfig *tls.Config, caFile string) error {
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return fmt.Errorf("reading the client CA file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return fmt.Errorf("reading the client CA file %s: no PEM certificate in it", caFile)
	}
	tlsConfig.ClientCAs = pool
	tlsConfig.ClientAuth = tls.VerifyClientCertIfGiven
	return nil
}
