package gateway

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	"github.com/jetflow-dev/jetflow/internal/devkit/jstest"
	"github.com/jetflow-dev/jetflow/internal/devkit/testplatform"
	"github.com/jetflow-dev/jetflow/internal/gateway"
	jetflowv1 "github.com/jetflow-dev/jetflow/proto/jetflow/v1"
	"github.com/jetflow-dev/jetflow/proto/jetflow/v1/jetflowv1connect"
)

// With a certificate configured the gateway serves TLS: gRPC over HTTP/2 by ALPN and the
// Connect protocol over HTTP/1.1 both reach it (health here, which needs no worker).
func TestTLS(t *testing.T) {
	p := testplatform.New(t)
	cert, pool := selfSigned(t)
	srv, err := gateway.New(gateway.Config{NC: p.NC, JS: p.JS, TLS: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := (&net.ListenConfig{}).Listen(p.Ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	jstest.Run(t, p.Ctx, func(ctx context.Context) error { return srv.Run(ctx, ln) })
	ctx, cancel := context.WithTimeout(p.Ctx, 10*time.Second)
	defer cancel()

	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(credentials.NewClientTLSFromCert(pool, "localhost")))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// tts-module is not running: ListVoices is unavailable, which proves the call got through.
	err = conn.Invoke(ctx, "/jetflow.v1.SpeechService/ListVoices", &jetflowv1.ListVoicesRequest{}, &jetflowv1.ListVoicesResponse{})
	if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "voices") {
		t.Fatalf("gRPC over TLS: %v, want Unavailable from the gateway", err)
	}

	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "localhost", MinVersion: tls.VersionTLS12}}
	defer tr.CloseIdleConnections()
	_, err = jetflowv1connect.NewSpeechServiceClient(&http.Client{Transport: tr}, "https://"+ln.Addr().String()).ListVoices(ctx, &jetflowv1.ListVoicesRequest{})
	if connect.CodeOf(err) != connect.CodeUnavailable {
		t.Fatalf("Connect over TLS: %v, want unavailable from the gateway", err)
	}
	// Plain HTTP to a TLS port is refused.
	_, err = jetflowv1connect.NewSpeechServiceClient(&http.Client{}, "http://"+ln.Addr().String()).ListVoices(ctx, &jetflowv1.ListVoicesRequest{})
	if err == nil || strings.Contains(err.Error(), "voices") {
		t.Fatalf("plain HTTP to the TLS port: %v", err)
	}
}

// selfSigned makes a certificate for localhost and 127.0.0.1, and a pool that trusts it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"},
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}
