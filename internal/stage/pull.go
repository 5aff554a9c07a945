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
// ack wait runs out. It closes the work channel when ctx ends.
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
	defer close(l.work)
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
		case m := <-p.in:
			if err = p.receive(m); err == nil {
				errWait = firstRetryWait
			}
		case <-p.askable():
			err = p.ask()
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

// puller is the puller's state; only the puller's goroutine touches it.
type puller struct {
	l         *loop
	nc        *nats.Conn
	subject   string // the consumer's next-message API subject
	expires   time.Duration
	heartbeat time.Duration
	sub       *nats.Subscription // nil until subscribed, and after a reset
	in        chan *nats.Msg
	// asked is the number of slots asked for: requested and neither delivered nor expired.
	asked int
	// heard says whether anything came since the last heartbeat check; silent counts the checks
	// in a row that found nothing while slots were asked for.
	heard  bool
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
		// At most one message per slot, and at most one status per request (each asks for one
		// slot or more), plus the odd heartbeat: a full channel would drop messages.
		in: make(chan *nats.Msg, 2*l.s.cfg.Concurrency+16),
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
	sub, err := p.nc.ChanSubscribe(p.nc.NewInbox(), p.in)
	if err != nil {
		return fmt.Errorf("subscribing to the pull inbox: %w", err)
	}
	p.sub, p.heard, p.silent = sub, true, 0
	return nil
}

// askable is the slots channel, to take a free slot from, when the puller may ask for messages,
// and nil while it waits for an open gate to be looked at again, or for a probing gate's one
// message.
func (p *puller) askable() slots {
	if p.gateRecheck != nil || (p.asked > 0 && p.l.s.probing()) {
		return nil
	}
	return p.l.slots
}

// ask sends one pull request for the free slots, the one the puller took and the others free
// now, unless the gate is open: then it gives the slot back and looks at the gate again later.
// A probing gate (a half-open breaker) gets one message at a time.
func (p *puller) ask() error {
	if d := p.l.s.gateOpenFor(); d > 0 {
		p.l.slots.give(1)
		p.gateRecheck = time.After(min(d, maxGateWait))
		return nil
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
	if err := p.nc.PublishRequest(p.subject, p.sub.Subject, p.req); err != nil {
		p.l.slots.give(n)
		return fmt.Errorf("asking for %d messages: %w", n, err)
	}
	p.asked += n
	return nil
}

// receive hands a delivered message to the workers, or reads a status of the server.
func (p *puller) receive(m *nats.Msg) error {
	p.heard = true
	status := statusOf(m)
	if status == "" {
		p.deliver(m)
		return nil
	}
	switch status {
	case "100": // idle heartbeat: the requests are alive
		return nil
	case "408", "409":
		// An expired request (408), or one the server ended early (409, such as a message over
		// max_bytes), tells how many of its messages it will not deliver.
		if left := m.Header.Get("Nats-Pending-Messages"); left != "" {
			n, err := strconv.Atoi(left)
			if err != nil || n < 0 {
				return fmt.Errorf("pull request ended with %s and a bad Nats-Pending-Messages %q", status, left)
			}
			n = min(n, p.asked)
			p.asked -= n
			p.l.slots.give(n)
			return nil
		}
	}
	return fmt.Errorf("pull request answered %s %s", status, m.Header.Get("Description"))
}

// deliver hands a delivered message to the workers. One the puller did not ask for (which only
// a server that kept a request across a reset could send) takes a free slot, or goes straight
// back when there is none, so the bound of Concurrency unacknowledged messages holds.
func (p *puller) deliver(m *nats.Msg) {
	switch {
	case p.asked > 0:
		p.asked--
	case p.l.slots.takeFree(0, 1) == 0:
		p.l.s.log.Warn("a message came that was not asked for and no slot is free: naked")
		p.l.s.nak(pulledMsg{m}, "not asked for")
		return
	}
	p.l.inflight.Add(1)
	p.l.work <- pulledMsg{m}
}

// checkHeartbeat runs on each tick of the heartbeat interval: requests the server holds send an
// idle heartbeat at least that often, so silence means they are lost (a restarted server, a
// network that dropped them).
func (p *puller) checkHeartbeat() error {
	if p.heard || p.asked == 0 {
		p.heard, p.silent = false, 0
		return nil
	}
	if p.silent++; p.silent < silentBeatsToReset {
		return nil
	}
	return fmt.Errorf("no idle heartbeat for %v while %d messages are asked for", time.Duration(p.silent)*p.heartbeat, p.asked)
}

// reset drops the subscription, hands on what it had delivered, and frees the slots still asked
// for; the next round subscribes on a new inbox and asks again.
func (p *puller) reset() {
	if p.sub == nil {
		return
	}
	_ = p.sub.Unsubscribe()
	p.sub = nil
	for {
		select {
		case m := <-p.in:
			if statusOf(m) == "" {
				p.deliver(m)
			}
		default:
			p.l.slots.give(p.asked)
			p.asked = 0
			return
		}
	}
}

// close ends the subscription at shutdown and sends back what came that no worker will handle.
func (p *puller) close() {
	if p.sub == nil {
		return
	}
	_ = p.sub.Unsubscribe()
	for {
		select {
		case m := <-p.in:
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
