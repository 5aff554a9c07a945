package stage

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
)

// maxGateWait is the longest the puller trusts an open gate's OpenFor before asking again: a
// half-open breaker may let work through before the time it first announced.
const maxGateWait = time.Second

// silentBeatsToReset is how many heartbeat checks in a row may pass without a word from the
// server, while messages are asked for, before the puller takes its requests for lost: the first
// heartbeat is due one interval after a request, so the pull requests have been silent for at
// least two intervals by then.
const silentBeatsToReset = 3

// pull is the puller: on one long-lived subscription it asks the server for exactly as many
// messages as there are free slots, never more, so nothing waits in a client buffer while its
// ack wait runs out. The workers take the deliveries off the subscription themselves (admit).
// It ends the subscription when ctx ends.
//
// Why not nats.go's Consume or Messages: they keep PullMaxMessages asked for on top of the
// messages handed out, without knowing when a message is acked (jetstream/pull.go, v1.55.0:
// Consume's internal handler calls the user's handler, then decrementPendingMsgs and
// checkPending, which asks for MaxMessages minus what is still pending once that falls below the
// threshold). A stage with c handlers busy could hold c more messages in the client's buffer,
// all of whose ack waits run, so the bound of Concurrency unacknowledged messages would not hold.
//
// Each slot is either free, asked for (a pull request is waiting on the server for it), or held
// by a message from its delivery to its settlement. The server answers a request with up to
// its batch of messages, and when the request expires, with a 408 status saying how many of its
// messages it did not deliver (Nats-Pending-Messages): those slots are free again. Anything
// that may have lost requests without that answer (a reconnection, missed idle heartbeats, a
// leadership change, a deleted consumer) makes the puller start over on a new inbox: the server
// drops requests whose reply subject has no interest, so a request it still holds can never
// deliver beyond the slots.
func (l *loop) pull(ctx context.Context) {
	p := newPuller(l)
	defer p.close()
	reconnected := p.nc.StatusChanged(nats.CONNECTED)
	defer p.nc.RemoveStatusListener(reconnected)
	beat := time.NewTicker(p.heartbeat)
	defer beat.Stop()
	errWait := firstRetryWait
	for {
		if p.sub == nil {
			if err := p.subscribe(); err != nil {
				if !l.s.pause(ctx, "subscribing", err, &errWait) {
					return
				}
				continue
			}
		}
		var err error
		select {
		case <-ctx.Done():
			return
		case err = <-l.trouble:
		case <-p.askable():
			var answered bool
			if answered, err = p.ask(); answered {
				errWait = firstRetryWait // pulling works again
			}
		case <-p.gateRecheck:
			p.gateRecheck = nil
		case <-beat.C:
			err = p.checkHeartbeat()
		case <-reconnected:
			err = errReconnected
		}
		if err != nil {
			p.reset()
			if !errors.Is(err, errReconnected) && !l.s.pause(ctx, "pulling", err, &errWait) {
				return
			}
		}
	}
}

var errReconnected = errors.New("reconnected: pull requests of the old connection are gone")

// puller is the puller's own state; only the puller's goroutine touches it.
type puller struct {
	l         *loop
	nc        *nats.Conn
	subject   string // the consumer's next-message API subject
	expires   time.Duration
	heartbeat time.Duration
	sub       *nats.Subscription // the puller's copy of pulls.sub
	// silent counts the heartbeat checks in a row that found nothing while slots were asked for.
	silent int
	// gateRecheck fires when an open gate is to be looked at again; nil when the gate is closed.
	gateRecheck <-chan time.Time
	req         []byte // the request being built, reused
}

func newPuller(l *loop) *puller {
	expires := l.s.cfg.FetchWait
	return &puller{
		l:         l,
		nc:        l.s.js.Conn(),
		subject:   nextSubject(l.s.js.Options().APIPrefix, l.s.js.Options().Domain, l.s.cfg.Stream, l.s.cfg.Consumer),
		expires:   expires,
		heartbeat: expires / 4, // the server refuses more than half the expiry
	}
}

// nextSubject is the API subject of pull requests, as nats.go's jetstream package forms it.
func nextSubject(apiPrefix, domain, stream, consumer string) string {
	prefix := "$JS.API."
	switch {
	case domain != "":
		prefix = "$JS." + domain + ".API."
	case apiPrefix != "":
		prefix = apiPrefix
		if prefix[len(prefix)-1] != '.' {
			prefix += "."
		}
	}
	return prefix + "CONSUMER.MSG.NEXT." + stream + "." + consumer
}

func (p *puller) subscribe() error {
	sub, err := p.nc.ChanSubscribe(p.nc.NewInbox(), p.l.in)
	if err != nil {
		return fmt.Errorf("subscribing to the pull inbox: %w", err)
	}
	ps := &p.l.pulls
	ps.mu.Lock()
	ps.sub, ps.heard = sub, true
	ps.mu.Unlock()
	p.sub, p.silent = sub, 0
	return nil
}

// askable is the slots channel, to take a free slot from, when the puller may ask for messages,
// and nil while it waits for an open gate to be looked at again, or for a probing gate's one
// message.
func (p *puller) askable() slots {
	if p.gateRecheck != nil {
		return nil
	}
	if p.l.s.probing() {
		ps := &p.l.pulls
		ps.mu.Lock()
		asked := ps.asked
		ps.mu.Unlock()
		if asked > 0 {
			return nil
		}
	}
	return p.l.slots
}

// ask sends one pull request for the free slots, the one the puller took and the others free
// now, unless the gate is open: then it gives the slot back and looks at the gate again later.
// A probing gate (a half-open breaker) gets one message at a time. It reports whether the
// server answered without an error since the last request.
func (p *puller) ask() (answered bool, err error) {
	if d := p.l.s.gateOpenFor(); d > 0 {
		p.l.slots.give(1)
		p.gateRecheck = time.After(min(d, maxGateWait))
		return false, nil
	}
	n := 1
	if !p.l.s.probing() {
		n = p.l.slots.takeFree(1, p.l.s.cfg.Concurrency)
	}
	p.req = append(p.req[:0], `{"batch":`...)
	p.req = strconv.AppendInt(p.req, int64(n), 10)
	p.req = append(p.req, `,"expires":`...)
	p.req = strconv.AppendInt(p.req, int64(p.expires), 10)
	p.req = append(p.req, `,"idle_heartbeat":`...)
	p.req = strconv.AppendInt(p.req, int64(p.heartbeat), 10)
	p.req = append(p.req, '}')
	// Counted before the request leaves: a worker may take its first message before
	// PublishRequest returns.
	ps := &p.l.pulls
	ps.mu.Lock()
	ps.asked += n
	answered, ps.answered = ps.answered, false
	ps.mu.Unlock()
	if err := p.nc.PublishRequest(p.subject, p.sub.Subject, p.req); err != nil {
		// The reset that follows frees the slots asked for.
		return answered, fmt.Errorf("asking for %d messages: %w", n, err)
	}
	return answered, nil
}

// checkHeartbeat runs on each tick of the heartbeat interval: requests the server holds send an
// idle heartbeat at least that often, so silence means they are lost (a restarted server, a
// network that dropped them).
func (p *puller) checkHeartbeat() error {
	ps := &p.l.pulls
	ps.mu.Lock()
	heard, asked := ps.heard, ps.asked
	ps.heard = false
	ps.mu.Unlock()
	if heard || asked == 0 {
		p.silent = 0
		return nil
	}
	if p.silent++; p.silent < silentBeatsToReset {
		return nil
	}
	return fmt.Errorf("no idle heartbeat for %v while %d messages are asked for", time.Duration(p.silent)*p.heartbeat, asked)
}

// reset drops the subscription and frees the slots still asked for; the next round subscribes
// on a new inbox and asks again. What the old subscription delivered is still handled: each
// such message takes a free slot (admit).
func (p *puller) reset() {
	if p.sub == nil {
		return
	}
	_ = p.sub.Unsubscribe()
	ps := &p.l.pulls
	ps.mu.Lock()
	asked := ps.asked
	ps.sub, ps.asked = nil, 0
	select {
	case stale := <-p.l.trouble: // the old subscription's, which this reset has dealt with
		p.l.s.log.Debug("pull status of a subscription being reset", "error", stale)
	default:
	}
	ps.mu.Unlock()
	p.sub = nil
	p.l.slots.give(asked)
}

// close ends the subscription at shutdown and sends back what came that no worker will handle.
func (p *puller) close() {
	if p.sub == nil {
		return
	}
	_ = p.sub.Unsubscribe()
	for {
		select {
		case m := <-p.l.in:
			if statusOf(m) == "" {
				p.l.s.nak(pulledMsg{m}, "shutting down before it started")
			}
		default:
			return
		}
	}
}

// statusOf is the status of a message the server sent on its own (a heartbeat, the end of a
// request), or "" for a stream message.
func statusOf(m *nats.Msg) string {
	if len(m.Data) > 0 || len(m.Header) == 0 {
		return ""
	}
	return m.Header.Get("Status")
}

// pause logs a pull error and waits with exponential backoff. A deleted consumer or a lost
// connection must not spin: the stage keeps trying (readiness, Check, fails meanwhile).
func (s *Stage) pause(ctx context.Context, what string, err error, wait *time.Duration) bool {
	s.log.Warn("pull failed, retrying", "doing", what, "error", err, "retry_in", *wait)
	if !sleep(ctx, *wait) {
		return false
	}
	*wait = min(*wait*2, maxRetryWait)
	return true
}
