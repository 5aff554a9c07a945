package stage

import (
	"context"
	"time"
)

// slots are a stage's free places for unacknowledged messages, as tokens in a channel: a
// message takes one when it is pulled and gives it back once it is settled, so the stage never
// holds more than Concurrency messages and never pulls what it has no place for.
type slots chan struct{}

func newSlots(n int) slots {
	s := make(slots, n)
	s.give(n)
	return s
}

// take waits for a free slot and takes it. It reports false, having taken nothing, when ctx
// ends first.
func (s slots) take(ctx context.Context) bool {
	select {
	case <-ctx.Done():
		return false
	case <-s:
		return true
	}
}

// takeFree takes the slots that are free now, without waiting, until it holds want; it returns
// how many it holds.
func (s slots) takeFree(have, want int) int {
	for have < want {
		select {
		case <-s:
			have++
		default:
			return have
		}
	}
	return have
}

// give returns n slots.
func (s slots) give(n int) {
	for range n {
		s <- struct{}{}
	}
}

// free is the number of slots free now.
func (s slots) free() int { return len(s) }

// gatherWait bounds how long a busy stage waits for more free slots before pulling.
const gatherWait = 100 * time.Microsecond

// gather waits up to gatherWait for more slots until it holds want of them, and returns how many
// it holds. When most slots are busy they come back one at a time as handlers finish, and
// pulling at once would spend a pull request (a subscription, a request and an unsubscribe, on
// the client and on the server) on one or two messages; waiting a moment lets one request take
// several (+14% msgs/s for a no-op stage draining a backlog in cmd/jetflow-bench). An idle or
// lightly loaded stage never waits, and a handler that runs for a while does not notice 100 µs.
func (s slots) gather(have, want int) int {
	t := time.NewTimer(gatherWait)
	defer t.Stop()
	for have < want {
		select {
		case <-s:
			have++
		case <-t.C:
			return have
		}
	}
	return have
}
