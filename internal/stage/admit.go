package stage

import (
	"fmt"
	"strconv"
	"sync"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// The workers take the server's deliveries and statuses off the pull subscription themselves
// (admit), and account for them in the state they share with the puller (pulls): no goroutine
// stands between the connection and the workers.

// pulls is the state of the pull subscription that the puller and the workers share.
type pulls struct {
	mu  sync.Mutex
	sub *nats.Subscription // nil until subscribed, and after a reset
	// asked is the number of slots asked for: requested and neither delivered nor expired.
	asked int
	// heard says whether anything came on sub since the puller's last heartbeat check.
	heard bool
	// answered says whether the server answered on sub without an error (a delivery, a
	// heartbeat, an expiry) since the puller last asked: pulling works, its backoff starts over.
	answered bool
}

// admit is how a worker takes a message off the subscription: a delivery takes the slot asked
// for it and is returned to be handled; a status of the server is accounted for. A delivery
// nobody asked for (which only a server that kept a request across a reset could send, or a
// subscription already reset) takes a free slot, or goes straight back when there is none, so
// the bound of Concurrency unacknowledged messages holds.
func (l *loop) admit(m *nats.Msg) (jetstream.Msg, bool) {
	status := statusOf(m)
	ps := &l.pulls
	ps.mu.Lock()
	current := ps.sub != nil && m.Sub == ps.sub
	if current {
		ps.heard = true
	}
	if status == "" {
		if current && ps.asked > 0 {
			ps.asked--
			ps.answered = true
			ps.mu.Unlock()
			return pulledMsg{m}, true
		}
		ps.mu.Unlock()
		if l.slots.takeFree(0, 1) == 0 {
			l.s.log.Warn("a message came that was not asked for and no slot is free: naked")
			l.s.nak(pulledMsg{m}, "not asked for")
			return nil, false
		}
		return pulledMsg{m}, true
	}
	if !current {
		ps.mu.Unlock() // a status for requests already given up
		return nil, false
	}
	freed, err := ps.ended(status, m)
	if err == nil {
		ps.answered = true
	} else {
		// Sent under the lock that says the subscription is current: a reset, which takes the
		// lock, then empties the channel, so the puller never acts on an old subscription's.
		select {
		case l.trouble <- err:
		default: // the puller has one to act on already
		}
	}
	ps.mu.Unlock()
	l.slots.give(freed)
	return nil, false
}

// ended reads a status of the server: an idle heartbeat, or a request that ended. It returns the
// slots a request will not deliver, which are free again, or the error of a status that ends
// every request. ps.mu is held.
func (ps *pulls) ended(status string, m *nats.Msg) (int, error) {
	switch status {
	case "100": // idle heartbeat: the requests are alive
		return 0, nil
	case "408", "409":
		// An expired request (408), or one the server ended early (409, such as a message over
		// max_bytes), tells how many of its messages it will not deliver.
		if left := m.Header.Get("Nats-Pending-Messages"); left != "" {
			n, err := strconv.Atoi(left)
			if err != nil || n < 0 {
				return 0, fmt.Errorf("pull request ended with %s and a bad Nats-Pending-Messages %q", status, left)
			}
			n = min(n, ps.asked)
			ps.asked -= n
			return n, nil
		}
	}
	return 0, fmt.Errorf("pull request answered %s %s", status, m.Header.Get("Description"))
}
