package milvus

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/milvus-io/milvus-proto/go-api/v2/milvuspb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/jetflow-dev/jetflow/internal/telemetry/tracecontext"
)

// The metadata a Milvus proxy reads on every call, as the SDK sends it (milvusclient/interceptors.go).
const (
	authorizationHeader = "authorization"
	databaseHeader      = "dbname"
	requestTimeHeader   = "client-request-unixmsec"
)

// maxRecvBytes bounds one search response. MaxTopK documents of a few KB each fit many times.
const maxRecvBytes = 64 << 20

// endpoint is Config.Addr read the way the SDK reads ClientConfig.Address.
type endpoint struct {
	target string // host:port to dial
	tls    bool
	db     string // "" = the server's default database
}

var schemePrefix = regexp.MustCompile(`^https?://`)

// parseAddr reads "host:port", "http://host:port" or "https://host[:port]", each optionally
// followed by "/database". https turns TLS on and defaults the port to 443.
func parseAddr(addr string) (endpoint, error) {
	if !schemePrefix.MatchString(addr) {
		addr = "tcp://" + addr
	}
	u, err := url.Parse(addr)
	if err != nil {
		return endpoint{}, fmt.Errorf("parsing milvus address: %w", err)
	}
	if u.Host == "" {
		return endpoint{}, errors.New("milvus address has no host")
	}
	ep := endpoint{target: u.Host, tls: u.Scheme == "https", db: strings.TrimLeft(u.Path, "/")}
	if ep.tls && u.Port() == "" {
		ep.target += ":443"
	}
	return ep, nil
}

// credential is the authorization metadata: base64 of the API key, or of "user:password".
func (c Config) credential() string {
	switch {
	case c.APIKey != "":
		return base64.StdEncoding.EncodeToString([]byte(c.APIKey))
	case c.Username != "" || c.Password != "":
		return base64.StdEncoding.EncodeToString([]byte(c.Username + ":" + c.Password))
	default:
		return ""
	}
}

// dial prepares the connection. grpc.NewClient does no I/O: gRPC connects on the first call
// and reconnects by itself, so a worker starts while Milvus is down and an unreachable server
// surfaces as a retryable Search error.
func dial(ep endpoint, cfg Config) (*grpc.ClientConn, error) {
	creds := insecure.NewCredentials()
	if ep.tls {
		creds = credentials.NewTLS(&tls.Config{MinVersion: tls.VersionTLS12})
	}
	conn, err := grpc.NewClient(ep.target,
		grpc.WithTransportCredentials(creds),
		// The SDK's defaults (client_config.go); keepalive pings at 5 s are what Milvus' own
		// server policy permits.
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 5 * time.Second, Timeout: 10 * time.Second, PermitWithoutStream: true}),
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 3 * time.Second},
			MinConnectTimeout: 3 * time.Second,
		}),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxRecvBytes)),
		grpc.WithStatsHandler(newStatsHandler()),
		// Retries outside, metadata inside: every attempt carries the headers, as with the SDK.
		grpc.WithChainUnaryInterceptor(retryUnavailable, headers(cfg.credential(), ep.db)),
	)
	if err != nil {
		return nil, fmt.Errorf("creating milvus connection to %s: %w", ep.target, err)
	}
	return conn, nil
}

// headers adds what the SDK's metadata interceptor adds to every call.
func headers(credential, db string) grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		kv := make([]string, 0, 6)
		if credential != "" {
			kv = append(kv, authorizationHeader, credential)
		}
		if db != "" {
			kv = append(kv, databaseHeader, db)
		}
		kv = append(kv, requestTimeHeader, strconv.FormatInt(time.Now().UnixMilli(), 10))
		return invoker(metadata.AppendToOutgoingContext(ctx, kv...), method, req, reply, cc, opts...)
	}
}

// retryPolicy is how often a call is attempted while the server is unavailable or overloaded
// (gRPC Unavailable or ResourceExhausted) and how long to wait before attempt n (1, 2, ...).
type retryPolicy struct {
	attempts uint
	backoff  func(n uint) time.Duration
}

// describeRetry is the SDK's retry of every call (client.go dialOptions: 6 attempts over ~22 s),
// kept for the once-per-collection DescribeCollection and Ping, bounded by their deadline.
var describeRetry = retryPolicy{attempts: 6, backoff: func(n uint) time.Duration {
	return 60 * time.Millisecond * time.Duration(math.Pow(3, float64(n)))
}}

// searchRetry replaces it for Search: two retries within 0.4 s ride out a proxy restart, and then
// the error reaches the stage, which naks with its own backoff and lets its circuit breaker
// count the failure instead of holding the message until the deadline.
var searchRetry = retryPolicy{attempts: 3, backoff: func(n uint) time.Duration {
	return 100 * time.Millisecond * time.Duration(math.Pow(3, float64(n-1)))
}}

// retryUnavailable retries a call as the SDK's grpc_retry interceptor does, each attempt a
// separate RPC with its own span, with searchRetry for Search. It counts the attempts of a
// Search for its caller's span (tracecontext.CountAttempts); the attempts gRPC itself repeats
// when a request never reached a server that was going away are not retries and not counted.
func retryUnavailable(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	policy, search := describeRetry, method == milvuspb.MilvusService_Search_FullMethodName
	if search {
		policy = searchRetry
	}
	var err error
	for n := range policy.attempts {
		if n > 0 {
			timer := time.NewTimer(policy.backoff(n))
			select {
			case <-ctx.Done():
				timer.Stop()
				return status.FromContextError(ctx.Err()).Err()
			case <-timer.C:
			}
		}
		if search {
			tracecontext.AttemptStarted(ctx)
		}
		err = invoker(ctx, method, req, reply, cc, opts...)
		if err == nil || ctx.Err() != nil {
			return err
		}
		if c := status.Code(err); c != codes.Unavailable && c != codes.ResourceExhausted {
			return err
		}
	}
	return err
}
