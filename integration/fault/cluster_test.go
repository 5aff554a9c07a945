package fault

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Cluster is a JetStream cluster of nats-server processes on loopback, routes between all of
// them. Apply streams with streams.WithReplicas(3) for R3 streams and consumers.
type Cluster struct {
	Servers []*Server
}

// StartCluster starts n servers (n1..nN) and waits until each answers JetStream requests.
func StartCluster(t *testing.T, n int) *Cluster {
	t.Helper()
	routes := make([]int, n)
	for i := range routes {
		routes[i] = freePort(t)
	}
	c := &Cluster{}
	for i := range n {
		c.Servers = append(c.Servers, newServer(t, fmt.Sprintf("n%d", i+1), &clusterPorts{name: "fault", routes: routes, index: i}))
	}
	for _, s := range c.Servers {
		s.startFresh()
	}
	for _, s := range c.Servers {
		s.WaitReady()
	}
	return c
}

// URL lists every server's client URL, for a client that fails over between them.
func (c *Cluster) URL() string {
	urls := make([]string, len(c.Servers))
	for i, s := range c.Servers {
		urls[i] = s.URL()
	}
	return strings.Join(urls, ",")
}

// Server returns the server named name (n1, n2...), or nil.
func (c *Cluster) Server(name string) *Server {
	for _, s := range c.Servers {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// StreamLeader returns the server that leads stream's raft group.
func (c *Cluster) StreamLeader(ctx context.Context, js jetstream.JetStream, stream string) (*Server, error) {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return nil, fmt.Errorf("looking up stream %s: %w", stream, err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading stream %s: %w", stream, err)
	}
	return c.leader(info.Cluster, "stream "+stream)
}

// ConsumerLeader returns the server that leads consumer's raft group.
func (c *Cluster) ConsumerLeader(ctx context.Context, js jetstream.JetStream, stream, consumer string) (*Server, error) {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	cons, err := js.Consumer(ctx, stream, consumer)
	if err != nil {
		return nil, fmt.Errorf("looking up consumer %s > %s: %w", stream, consumer, err)
	}
	info, err := cons.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading consumer %s > %s: %w", stream, consumer, err)
	}
	return c.leader(info.Cluster, "consumer "+consumer)
}

// callTimeout bounds one request to the cluster: a request sent just as its server died is not
// answered, and the caller polls again instead of waiting for its whole context.
const callTimeout = 3 * time.Second

// AwaitNewLeader polls leader until it names a running server other than old, and returns it.
func AwaitNewLeader(t *testing.T, old *Server, within time.Duration, leader func() (*Server, error)) *Server {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		s, err := leader()
		if err == nil && s != old && s.Running() {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("no new leader within %v after %s (last answer %v, %v)", within, old.Name, s, err)
		}
		time.Sleep(100 * time.Millisecond) // polling the election
	}
}

func (c *Cluster) leader(ci *jetstream.ClusterInfo, what string) (*Server, error) {
	if ci == nil || ci.Leader == "" {
		return nil, fmt.Errorf("%s has no leader now", what)
	}
	s := c.Server(ci.Leader)
	if s == nil {
		return nil, fmt.Errorf("%s is led by %q, not a server of this cluster", what, ci.Leader)
	}
	return s, nil
}
