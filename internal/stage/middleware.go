package stage

// Middleware wraps a handler with behaviour every message gets (panic recovery, a time limit),
// as watermill's router middleware do. The runtime composes its own around every stage's
// handler (see New); they are exported so that a handler can be tested as the runtime runs it.
type Middleware func(Handler) Handler

// chain wraps h in mws, the first outermost: chain(h, a, b) handles a message as a(b(h)).
func chain(h Handler, mws ...Middleware) Handler {
	for i := len(mws) - 1; i >= 0; i-- {
		h = mws[i](h)
	}
	return h
}
