package auth_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"log"
	"math/big"
	"net"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/jetflow-dev/jetflow/internal/devkit/jstest"
	"github.com/jetflow-dev/jetflow/internal/devkit/syncbuf"
	"github.com/jetflow-dev/jetflow/internal/gateway/auth"
	jetflowv1 "github.com/jetflow-dev/jetflow/proto/jetflow/v1"
	"github.com/jetflow-dev/jetflow/proto/jetflow/v1/jetflowv1connect"
)

// testCA issues certificates for one test.
type testCA struct {
	t    *testing.T
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newTestCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testCA{t: t, cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

var serial int64 = 100

// issue returns a leaf certificate for tmpl's names, for a server or a client.
func (ca *testCA) issue(tmpl *x509.Certificate, usage x509.ExtKeyUsage) tls.Certificate {
	ca.t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		ca.t.Fatal(err)
	}
	serial++
	tmpl.SerialNumber = big.NewInt(serial)
	tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{usage}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		ca.t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func (ca *testCA) client(tmpl *x509.Certificate) tls.Certificate {
	return ca.issue(tmpl, x509.ExtKeyUsageClientAuth)
}

func TestClientCertificates(t *testing.T) {
	ca := newTestCA(t, "jetflow test CA")
	strangers := newTestCA(t, "someone else's CA")
	apiKey := newKey(t)
	spiffe, _ := url.Parse("spiffe://jetflow.test/ns/jobs/sa/nightly")

	a, err := auth.New(auth.Config{Keys: &auth.KeyFile{Callers: []auth.Entry{
		{Name: "batch", ClientCert: &auth.CertMatch{CommonName: "batch.jetflow.test"}, Services: []string{"jetflow.v1.ChatService"}},
		{Name: "nightly", ClientCert: &auth.CertMatch{URI: spiffe.String()}, Services: []string{"*"}},
		{Name: "ops-box", ClientCert: &auth.CertMatch{DNS: "ops.jetflow.test"}, Services: []string{"*"}, Admin: true},
		{Name: "keyed", KeySHA256: auth.HashKey(apiKey), Services: []string{"*"}},
	}}})
	if err != nil {
		t.Fatal(err)
	}

	caFile := filepath.Join(t.TempDir(), "clients-ca.pem")
	if err := os.WriteFile(caFile, ca.pem, 0o600); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(handler(a))
	srv.EnableHTTP2 = true
	var serverLog syncbuf.Buffer
	srv.Config.ErrorLog = log.New(&serverLog, "", 0)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{
		ca.issue(&x509.Certificate{Subject: pkix.Name{CommonName: "gateway"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}, x509.ExtKeyUsageServerAuth),
	}}
	if err := auth.ConfigureClientCerts(srv.TLS, caFile); err != nil {
		t.Fatal(err)
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	roots := x509.NewCertPool()
	roots.AddCert(ca.cert)

	tests := []struct {
		name       string
		cert       *tls.Certificate
		opts       []connect.ClientOption
		admin      bool
		want       connect.Code
		wantCaller string
		wantTLSErr bool
	}{
		{name: "common name", cert: ptr(ca.client(&x509.Certificate{Subject: pkix.Name{CommonName: "batch.jetflow.test"}})), wantCaller: "batch/client_cert"},
		{name: "URI SAN", cert: ptr(ca.client(&x509.Certificate{Subject: pkix.Name{CommonName: "pod-7f9c"}, URIs: []*url.URL{spiffe}})), wantCaller: "nightly/client_cert"},
		{name: "DNS SAN on AdminService", cert: ptr(ca.client(&x509.Certificate{DNSNames: []string{"ops.jetflow.test"}})), admin: true},
		{name: "common name not allowed AdminService", cert: ptr(ca.client(&x509.Certificate{Subject: pkix.Name{CommonName: "batch.jetflow.test"}})), admin: true, want: connect.CodePermissionDenied},
		{name: "certificate not in the key file", cert: ptr(ca.client(&x509.Certificate{Subject: pkix.Name{CommonName: "intruder"}})), want: connect.CodeUnauthenticated},
		// The CN matches an entry, but a name in the DNS SAN of a cert for another entry must
		// not be read as a common name.
		{name: "DNS SAN is not a common name", cert: ptr(ca.client(&x509.Certificate{DNSNames: []string{"batch.jetflow.test"}})), want: connect.CodeUnauthenticated},
		{name: "no certificate, no key", want: connect.CodeUnauthenticated},
		{name: "no certificate, API key", opts: []connect.ClientOption{bearer(apiKey)}, wantCaller: "keyed/api_key"},
		{name: "wrong key beside a good certificate", cert: ptr(ca.client(&x509.Certificate{Subject: pkix.Name{CommonName: "batch.jetflow.test"}})),
			opts: []connect.ClientOption{bearer("jf_wrong")}, want: connect.CodeUnauthenticated},
		{name: "certificate from another CA", cert: ptr(strangers.client(&x509.Certificate{Subject: pkix.Name{CommonName: "batch.jetflow.test"}})), wantTLSErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := &tls.Config{RootCAs: roots}
			if tt.cert != nil {
				// Sent whatever CAs the server names, as a client that does not check would.
				cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return tt.cert, nil }
			}
			hc := tlsClient(cfg)
			defer hc.CloseIdleConnections()
			ctx := context.Background()
			var err error
			var answer string
			if tt.admin {
				_, err = jetflowv1connect.NewAdminServiceClient(hc, srv.URL, append(tt.opts, connect.WithGRPC())...).Status(ctx, &jetflowv1.StatusRequest{})
			} else {
				var resp *jetflowv1.ChatResponse
				resp, err = jetflowv1connect.NewChatServiceClient(hc, srv.URL, append(tt.opts, connect.WithGRPC())...).Chat(ctx, &jetflowv1.ChatRequest{})
				answer = resp.GetAnswer()
			}
			if tt.wantTLSErr {
				// The handshake fails, so the call never reaches the interceptor.
				if err == nil {
					t.Fatal("call with a certificate from another CA succeeded")
				}
				jstest.Eventually(t, 5*time.Second, 5*time.Millisecond, func() error {
					if !strings.Contains(serverLog.String(), "certificate signed by unknown authority") {
						return fmt.Errorf("server log has no refused handshake: %q (client saw %v)", serverLog.String(), err)
					}
					return nil
				})
				return
			}
			if got := codeOf(err); got != tt.want {
				t.Fatalf("code = %v (%v), want %v", got, err, tt.want)
			}
			if tt.wantCaller != "" && answer != tt.wantCaller {
				t.Errorf("handler saw caller %q, want %q", answer, tt.wantCaller)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func TestConfigureClientCertsRefusesABadFile(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{notPEM, filepath.Join(dir, "missing.pem")} {
		if err := auth.ConfigureClientCerts(&tls.Config{}, path); err == nil {
			t.Errorf("ConfigureClientCerts(%s) = nil, want an error", path)
		}
	}
	cfg := &tls.Config{}
	if err := auth.ConfigureClientCerts(cfg, notPEM); err == nil || cfg.ClientAuth != tls.NoClientCert {
		t.Errorf("a failed call changed the TLS config: %v", cfg.ClientAuth)
	}
}
