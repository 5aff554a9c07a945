package bench

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
)

// Peer is another framework doing the same forward as the stage under test, measured in the same
// rounds (bench/peers adds Watermill's). It lives in a module of its own so the product does not
// depend on it, and runs in this process, so its CPU per message is counted like jetflow's.
type Peer struct {
	// Name labels the peer's figures in the table.
	Name string
	// Serve forwards every message of the durable pull consumer hop.Consumer on hop.Stream, whose
	// subjects start with hop.From, to hop.To plus the rest of its subject, with the
	// Nats-Msg-Id <hop.Consumer>:<stream>:<stream sequence>:#1, acking each input after its
	// output's publish ack, with at most concurrency messages handled at once, until ctx ends.
	// It connects to url itself, and returns when everything it started has stopped.
	Serve func(ctx context.Context, url string, hop PeerHop, concurrency int) error
}

// PeerHop is one stage of a measured chain, for a Peer.
type PeerHop struct {
	Stream, Consumer string
	From, To         string // subject prefixes: an input <From>.<rest> becomes <To>.<rest>
}

// peerSide runs each hop with a Peer.
type peerSide struct {
	peer        Peer
	concurrency int
	url         string
}

func (s peerSide) name() string { return s.peer.Name }

func (s peerSide) serve(ctx context.Context, _ jetstream.JetStream, hops []hop) error {
	return runAll(ctx, len(hops), func(ctx context.Context, i int) error {
		h := hops[i]
		if err := s.peer.Serve(ctx, s.url, PeerHop{Stream: h.Stream, Consumer: h.Name, From: h.From, To: h.To}, s.concurrency); err != nil {
			return fmt.Errorf("running peer %s on %s: %w", s.peer.Name, h.Name, err)
		}
		return nil
	})
}
