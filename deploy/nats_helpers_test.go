package deploy

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"github.com/jetflow-dev/jetflow/internal/devkit/jstest"
	"github.com/jetflow-dev/jetflow/streams"
)

// natsConfigFile is the production server configuration the tests start a server from.
var natsConfigFile = filepath.Join("nats", "nats-server.conf")

// Users of accounts.conf besides the workers.
const (
	userAdmin   = "admin"
	userGateway = "gateway"
)

// natsUsers are every user of accounts.conf, each with the environment variable that carries
// its public nkey.
func natsUsers() []string {
	users := []string{userAdmin, userGateway}
	for _, w := range Workers() {
		users = append(users, w.Name)
	}
	return users
}

func nkeyEnv(user string) string {
	return "JETFLOW_NKEY_" + strings.ToUpper(strings.ReplaceAll(user, "-", "_"))
}

// natsEnv is a running server started from deploy/nats with fresh nkeys for every user, and
// the streams of streams/ applied by the admin user.
type natsEnv struct {
	srv   *server.Server
	keys  map[string]nkeys.KeyPair
	set   *streams.Set
	admin jetstream.JetStream
	nc    *nats.Conn // the admin's connection
}

// loadNATSConfig sets the environment the configuration expects (SERVER_NAME and a fresh nkey
// per user) and parses it.
func loadNATSConfig(t *testing.T) (*server.Options, map[string]nkeys.KeyPair) {
	t.Helper()
	t.Setenv("SERVER_NAME", "nats-test-0")
	keys := make(map[string]nkeys.KeyPair)
	for _, u := range natsUsers() {
		kp, err := nkeys.CreateUser()
		if err != nil {
			t.Fatalf("creating nkey: %v", err)
		}
		pub, err := kp.PublicKey()
		if err != nil {
			t.Fatalf("reading public nkey: %v", err)
		}
		t.Setenv(nkeyEnv(u), pub)
		keys[u] = kp
	}
	opts, err := server.ProcessConfigFile(natsConfigFile)
	if err != nil {
		t.Fatalf("parsing %s: %v", natsConfigFile, err)
	}
	return opts, keys
}

// startNATS starts a single server from the production configuration: same accounts, users,
// permissions, JetStream settings and max payload, but on random local ports, with a temporary
// store and without the cluster routes.
func startNATS(t *testing.T) *natsEnv {
	t.Helper()
	opts, keys := loadNATSConfig(t)
	opts.Host = "127.0.0.1"
	opts.Port = server.RANDOM_PORT
	opts.HTTPHost = "127.0.0.1"
	opts.HTTPPort = server.RANDOM_PORT
	opts.StoreDir = t.TempDir()
	opts.Cluster = server.ClusterOpts{}
	opts.Routes = nil
	opts.RoutesStr = ""
	opts.NoSigs = true
	opts.NoLog = true
	srv, err := server.NewServer(opts)
	if err != nil {
		t.Fatalf("creating server: %v", err)
	}
	srv.Start()
	t.Cleanup(func() {
		srv.Shutdown()
		srv.WaitForShutdown()
	})
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("server did not become ready")
	}
	env := &natsEnv{srv: srv, keys: keys}
	env.set = loadStreams(t)
	c := env.connect(t, userAdmin)
	env.admin, env.nc = c.js, c.nc
	if _, err := streams.Apply(jstest.Context(t), env.admin, env.set); err != nil {
		t.Fatalf("applying streams as %s: %v", userAdmin, err)
	}
	return env
}

func loadStreams(t testing.TB) *streams.Set {
	t.Helper()
	set, err := streams.Load()
	if err != nil {
		t.Fatalf("loading streams: %v", err)
	}
	return set
}

// userConn is a connection as one user, with the asynchronous errors the server sent it
// (permission violations arrive that way).
type userConn struct {
	user string
	nc   *nats.Conn
	js   jetstream.JetStream

	mu   sync.Mutex
	errs []error
	// seen is signalled on every error, without blocking: the handler runs on the connection's
	// callback goroutine, and one pending signal is enough to make violation look again.
	seen chan struct{}
}

func (e *natsEnv) connect(t *testing.T, user string) *userConn {
	t.Helper()
	kp, ok := e.keys[user]
	if !ok {
		t.Fatalf("no nkey for user %s", user)
	}
	pub, _ := kp.PublicKey()
	c := &userConn{user: user, seen: make(chan struct{}, 1)}
	nc, err := nats.Connect(e.srv.ClientURL(),
		nats.Name("deploy-test-"+user),
		nats.Nkey(pub, kp.Sign),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			c.mu.Lock()
			c.errs = append(c.errs, err)
			c.mu.Unlock()
			select {
			case c.seen <- struct{}{}:
			default:
			}
		}),
	)
	if err != nil {
		t.Fatalf("connecting as %s: %v", user, err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("creating JetStream context for %s: %v", user, err)
	}
	c.nc, c.js = nc, js
	return c
}

// violation waits until the server reported a permissions violation naming subject.
func (c *userConn) violation(op, subject string) error {
	want := fmt.Sprintf("%s to %q", op, subject)
	deadline := time.After(5 * time.Second)
	for {
		c.mu.Lock()
		for _, err := range c.errs {
			if errors.Is(err, nats.ErrPermissionViolation) && strings.Contains(strings.ToLower(err.Error()), strings.ToLower(want)) {
				c.mu.Unlock()
				return nil
			}
		}
		c.mu.Unlock()
		select {
		case <-c.seen:
		case <-deadline:
			return fmt.Errorf("%s: no permissions violation for %s", c.user, want)
		}
	}
}

// markerSubject is a subject no user but the admin may publish to: a publish there is refused
// on purpose, as the last thing a connection does.
const markerSubject = "jetflow.test.marker"

// noErrors fails when the server refused anything this connection did. A refusal reaches the
// error handler after Flush returns (nats.go hands it to a callback goroutine), so looking once
// could miss the last ones: the connection is refused once more on purpose and that refusal
// waited for; nats.go delivers errors in order, so every earlier one has arrived by then.
// Not for the admin, whom nothing is refused.
func (c *userConn) noErrors(t *testing.T) {
	t.Helper()
	if err := c.nc.Publish(markerSubject, nil); err != nil {
		t.Fatalf("publishing the marker as %s: %v", c.user, err)
	}
	if err := c.nc.Flush(); err != nil {
		t.Fatalf("flushing %s: %v", c.user, err)
	}
	if err := c.violation("publish", markerSubject); err != nil {
		t.Fatalf("the refusal of the marker never came, so the others cannot be known complete: %v", err)
	}
	marker := strings.ToLower(fmt.Sprintf("publish to %q", markerSubject))
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, err := range c.errs {
		if !strings.Contains(strings.ToLower(err.Error()), marker) {
			t.Errorf("%s: server refused: %v", c.user, err)
		}
	}
}

// publish publishes into a stream as the admin and returns the stream sequence.
func (e *natsEnv) publish(ctx context.Context, t *testing.T, subject string, data []byte) uint64 {
	t.Helper()
	ack, err := e.admin.Publish(ctx, subject, data)
	if err != nil {
		t.Fatalf("publishing to %s as %s: %v", subject, userAdmin, err)
	}
	return ack.Sequence
}

// subjectFor is a concrete subject matching a consumer's filter.
func subjectFor(filter, token string) string {
	if s, ok := strings.CutSuffix(filter, ">"); ok {
		return s + token
	}
	return strings.ReplaceAll(filter, "*", token)
}

// kedaAccount is the NATS account the streams live in (deploy/nats/accounts.conf); the
// ScaledObjects must name it.
const kedaAccount = "JETFLOW"
