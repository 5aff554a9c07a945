package devplatform

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetflow-dev/jetflow/internal/gateway"
	"github.com/jetflow-dev/jetflow/internal/gateway/auth"
	"github.com/jetflow-dev/jetflow/internal/gateway/page"
)

// DevKeyFile is the name, in the data directory, of the file holding the development API key
// of the running `jetflow dev`: the client commands read it when JETFLOW_API_KEY is unset, so
// `make run` then `jetflow chat` works with nothing to copy.
const DevKeyFile = "dev-api-key"

// devGracePeriod bounds how long the gateway lets calls finish after Ctrl-C.
const devGracePeriod = 5 * time.Second

// devCaller is the name the development key's calls are recorded under.
const devCaller = "jetflow-dev"

// devGateway is the platform's gateway: the Connect API and the page, on 127.0.0.1 only,
// behind a development key made for this run.
type devGateway struct {
	server  *gateway.Server
	keys    *auth.Authenticator
	nc      *nats.Conn
	ln      net.Listener
	url     string
	key     string
	keyFile string
}

// startGateway builds the gateway on its own connection to the embedded server and binds its
// port; run serves it.
func startGateway(ctx context.Context, natsURL string, port int, dataDir string, log *slog.Logger) (*devGateway, error) {
	key, callers, err := auth.NewDevKeys(devCaller)
	if err != nil {
		return nil, fmt.Errorf("making the development API key: %w", err)
	}
	keys, err := auth.New(auth.Config{Keys: callers, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("setting up the development API key: %w", err)
	}
	nc, err := nats.Connect(natsURL, nats.Name("jetflow-dev-gateway"))
	if err != nil {
		return nil, fmt.Errorf("connecting the gateway to the embedded server: %w", err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("creating the gateway's JetStream context: %w", err)
	}
	cfg := gateway.Config{
		NC: nc, JS: js,
		Page: page.Handler(),
		Log:  log,
		// Ctrl-C should stop a development platform promptly; a call still running after this
		// is cancelled, and its request still completes in the workers.
		GracePeriod: devGracePeriod,
	}
	cfg.Authenticate(keys)
	server, err := gateway.New(cfg)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("building the gateway: %w", err)
	}
	if port < 0 {
		port = 0
	}
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		_ = server.Close()
		nc.Close()
		return nil, fmt.Errorf("listening for the gateway (is port %d taken? try --gateway-port -1): %w", port, err)
	}
	g := &devGateway{server: server, keys: keys, nc: nc, ln: ln, key: key,
		url: "http://" + ln.Addr().String(), keyFile: filepath.Join(dataDir, DevKeyFile)}
	// The key is written where the client commands look for it, readable by this user only.
	if err := os.WriteFile(g.keyFile, []byte(key+"\n"), 0o600); err != nil {
		g.close()
		return nil, fmt.Errorf("writing the development API key: %w", err)
	}
	return g, nil
}

// run serves until ctx ends, then stops the gateway within its grace period and removes the
// key file: the key dies with this run.
func (g *devGateway) run(ctx context.Context) error {
	err := g.server.Run(ctx, g.ln)
	g.close()
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	return err
}

func (g *devGateway) close() {
	_ = g.server.Close()
	_ = g.ln.Close()
	g.nc.Close()
	_ = os.Remove(g.keyFile)
}

// printGateway says where the gateway and the page are, and how to ask through them.
// clientDefault is the gateway the client commands call when given none: the printed commands
// name the gateway only when it is elsewhere.
func printGateway(out io.Writer, g *devGateway, clientDefault string) {
	keyFile := g.keyFile
	if wd, err := os.Getwd(); err == nil {
		if rel, err := filepath.Rel(wd, keyFile); err == nil && !strings.HasPrefix(rel, "..") {
			keyFile = rel
		}
	}
	chat := "go run ./cmd/jetflow chat"
	if g.url != clientDefault {
		chat += " --gateway " + g.url
	}
	fmt.Fprintf(out, "  gateway: %s (Connect, gRPC, gRPC-Web and JSON); the page: %s/\n", g.url, g.url)
	fmt.Fprintf(out, "  development API key (every service, admin; this run only): %s\n", g.key)
	fmt.Fprintf(out, `
Ask through the gateway (the client commands run from here read the key from %[1]s):
  %[4]s "How does KEDA scale the workers?"
From anywhere, with the key:
  JETFLOW_API_KEY=%[3]s %[4]s "How does KEDA scale the workers?"
Or open %[2]s/ in a browser and paste the key.
`, keyFile, g.url, g.key, chat)
}
