package stage

// slots are a stage's free places for unacknowledged messages, as tokens in a channel: the puller
// takes one for each message it asks the server for, and it comes back once that message is
// settled (or the server says it will not come), so the stage never holds more than Concurrency
// messages and never asks for what it has no place for.
type slots chan struct{}

func newSlots(n int) slots {
	s := make(slots, n)
	s.give(n)
	return s
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
