package fault

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"github.com/jetflow-dev/jetflow/internal/stage"
	jetflowv1 "github.com/jetflow-dev/jetflow/proto/jetflow/v1"
	"github.com/jetflow-dev/jetflow/streams"
)

// PublishPatience bounds how long the producer retries one publish while the server is away.
var PublishPatience = 2 * time.Minute

// Producer publishes requests as a client of the platform does: Nats-Msg-Id is the request id,
// so a publish retried after a lost ack lands once; a publish that fails while the server is
// away (stopped, restarting, electing a leader) is retried, with the same id, for up to
// PublishPatience. It records every id it published, for the audit.
type Producer struct {
	js jetstream.JetStream

	mu        sync.Mutex
	published []string
	retries   int
}

// NewProducer publishes through js.
func NewProducer(js jetstream.JetStream) *Producer { return &Producer{js: js} }

// Publish publishes msg, encoded as binary protobuf, with the publishers' headers (Jetflow-Type,
// Jetflow-Request-Id) and Nats-Msg-Id id, retrying until the server acknowledges it.
func (p *Producer) Publish(ctx context.Context, subject, id string, msg proto.Message) error {
	data, err := proto.Marshal(msg)
	if err != nil {
		return fmt.Errorf("encoding request %s: %w", id, err)
	}
	h := nats.Header{stage.HeaderType: {string(proto.MessageName(msg))}}
	return p.PublishMsg(ctx, id, &nats.Msg{Subject: subject, Header: h, Data: data})
}

// PublishMsg publishes m as it is (a poison message, a payload of a newer schema), adding only
// Nats-Msg-Id and Jetflow-Request-Id id, with Publish's retries. id is recorded for the audit.
func (p *Producer) PublishMsg(ctx context.Context, id string, m *nats.Msg) error {
	if m.Header == nil {
		m.Header = nats.Header{}
	}
	m.Header.Set(jetstream.MsgIDHeader, id)
	m.Header.Set(stage.HeaderRequestID, id)
	deadline := time.Now().Add(PublishPatience)
	for {
		attempt, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := p.js.PublishMsg(attempt, m)
		cancel()
		if err == nil {
			break
		}
		if ctx.Err() != nil || time.Now().After(deadline) {
			return fmt.Errorf("publishing request %s to %s (retried for %v): %w", id, m.Subject, PublishPatience, err)
		}
		p.mu.Lock()
		p.retries++
		p.mu.Unlock()
		time.Sleep(100 * time.Millisecond) // the server is away: try again soon, with the same id
	}
	p.mu.Lock()
	p.published = append(p.published, id)
	p.mu.Unlock()
	return nil
}

// Chat publishes a chat request that needs only the LLM (RAG off).
func (p *Producer) Chat(ctx context.Context, id string) error {
	req := &jetflowv1.ChatRequest{RequestId: id, Query: "What does JetStream keep for " + id + "?", DisableRag: true}
	return p.Publish(ctx, streams.SubjectChatRequest, id, req)
}

// Published is every id published so far, in order.
func (p *Producer) Published() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.published...)
}

// Retries is how many publishes failed and were tried again.
func (p *Producer) Retries() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.retries
}

// Load is a steady stream of requests published in the background.
type Load struct {
	done    chan struct{}
	stop    chan struct{}
	stopped sync.Once
	err     error
}

// Steady publishes n requests, one every interval, by calling publish(ctx, i) for i in [0, n),
// in a goroutine that Wait (or the end of the test) waits for.
func Steady(t *testing.T, ctx context.Context, n int, interval time.Duration, publish func(ctx context.Context, i int) error) *Load {
	t.Helper()
	ctx, cancel := context.WithCancel(ctx)
	l := &Load{done: make(chan struct{}), stop: make(chan struct{})}
	go func() {
		defer close(l.done)
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for i := range n {
			if err := publish(ctx, i); err != nil {
				l.err = err
				return
			}
			select {
			case <-tick.C:
			case <-l.stop:
				return
			case <-ctx.Done():
				l.err = ctx.Err()
				return
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-l.done
	})
	return l
}

// Stop ends the load after the publish under way, without error: a scenario whose faults are
// paced by progress runs its load until the last fault is over instead of guessing a count
// that outlasts them.
func (l *Load) Stop() { l.stopped.Do(func() { close(l.stop) }) }

// Done is closed once every request was published (or publishing failed).
func (l *Load) Done() <-chan struct{} { return l.done }

// Wait waits until every request was published and fails the test if one could not be.
func (l *Load) Wait(t *testing.T) {
	t.Helper()
	<-l.done
	if l.err != nil {
		t.Fatalf("producing the load: %v", l.err)
	}
}

// RequestID is the id of the i-th request of a scenario: a valid subject token, unique per test.
func RequestID(prefix string, i int) string { return fmt.Sprintf("%s-%04d", prefix, i) }
