package bench

import "context"

// HOOK(chat worker): scenarios 3-6 measure the chat worker (workers/chat), which is being
// written. Until it exists each reports one row "not run: needs the chat worker". To add one,
// write a type implementing Scenario in its own file (chat.go, scaleout.go, ...), following the
// plan in its comment below, and replace the placeholder in Scenarios(). What they share:
//
//   - the stand-in models from internal/standin, with standin.Config{Delay: 100 * time.Millisecond}
//     so every LLM call takes 100 ms (embeddings and rerank may stay instant);
//   - worker processes started with exec.CommandContext on the built chat-handler binary, with
//     NATS_URL = h.URL() and the model URLs pointing at the stand-in, streams applied by
//     streams.Apply on a fresh server (use a harness per scenario or new stream names);
//   - requests are jetflowv1.ChatRequest published to the chat stream with a Nats-Msg-Id, results
//     read from the results stream; the probe type in latency.go records send and arrival times
//     by request number, and PeakRSS reads a process's high-water mark.

// notRun is a scenario that cannot run yet: it reports one row saying why.
type notRun struct {
	id, name, metric, target, why string
}

func (n notRun) ID() string   { return n.id }
func (n notRun) Name() string { return n.name }

func (n notRun) Run(context.Context, *Harness) ([]Row, error) {
	return []Row{{Scenario: n.id, Name: n.name, Metric: n.metric, Target: n.target, Status: "not run: " + n.why}}, nil
}

const needsChatWorker = "needs the chat worker"

// chatThroughput (3): one chat-handler process, the stand-in LLM at 100 ms per call, a backlog
// of ChatRequests drained with concurrency c. Throughput against the ideal c / 100 ms, and the
// same backlog through a bare loop that calls the same stand-in.
func chatThroughput() Scenario {
	return notRun{id: "3", name: "chat worker throughput", metric: "requests/s vs c / 100 ms", why: needsChatWorker}
}

// chatScaleOut (4): the same backlog drained by 1, 2 and 4 chat-handler processes on one
// consumer. One row per process count; the ratio to the 1-process rate shows how KEDA scaling
// pays off on this machine.
func chatScaleOut() Scenario {
	return notRun{id: "4", name: "chat scale-out", metric: "requests/s with 1/2/4 processes", why: needsChatWorker}
}

// chatPeakRSS (5): PeakRSS of one chat-handler process after scenario 3's load. Target from
// DESIGN.md: about 15 MB.
func chatPeakRSS() Scenario {
	return notRun{id: "5", name: "chat worker peak RSS", metric: "VmHWM", target: "~15 MB", why: needsChatWorker}
}

// chatEndToEnd (6): ChatRequest published to result in the results stream, p50/p99, at a fixed
// rate below capacity, with the stand-in LLM at 100 ms: the runtime's share is the latency
// above 100 ms.
func chatEndToEnd() Scenario {
	return notRun{id: "6", name: "chat end-to-end latency", metric: "ChatRequest to result p50/p99", why: needsChatWorker}
}
