// Package stagestatus is one look at every stage of the platform: its consumer's state, its
// dead letters, the worker replicas serving it and their breakers, and the rule that says
// whether the platform is healthy. `jetflow status` renders it; the gateway's AdminService
// returns it.
//
// What the workers report comes from the KV bucket streams.BucketStatus, where each worker
// process keeps one entry (worker.StatusPublisher), so one bucket is read instead of every
// pod's /metrics.
package stagestatus

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jetflow-dev/jetflow/internal/worker"
)

// DefaultWindow is how recent a stage's newest dead letter must be for its dead letters to
// count as growing, unless the caller says otherwise.
const DefaultWindow = 5 * time.Minute

// Report is one look at the whole platform: what `jetflow status -o json` prints.
type Report struct {
	Time time.Time `json:"time"`
	// Healthy is false when Problems is not empty; the exit code is then 1.
	Healthy bool `json:"healthy"`
	// Problems are what makes the platform unhealthy, by the rule of ProblemsFor.
	Problems []string `json:"problems"`
	// Warnings are shown but change nothing (a status entry that does not decode).
	Warnings []string      `json:"warnings,omitempty"`
	Stages   []StageReport `json:"stages"`
	// Replicas are the status entries of every worker process, as they published them.
	Replicas []worker.Status `json:"replicas"`
}

// StageReport is one stage: one durable consumer that streams/ defines.
type StageReport struct {
	Stage    string `json:"stage"`
	Stream   string `json:"stream"`
	Consumer string `json:"consumer"`
	// Missing is set when the server has no such consumer (streams/ not applied); the counts
	// below are then zero.
	Missing bool `json:"missing,omitempty"`
	// The consumer's state on the server: num_pending, num_ack_pending, num_redelivered and
	// num_waiting (pull requests waiting for messages).
	Pending     uint64 `json:"pending"`
	AckPending  int    `json:"ack_pending"`
	Redelivered int    `json:"redelivered"`
	Waiting     int    `json:"waiting"`

	DeadLetters DeadLetters `json:"dead_letters"`
	// Replicas is how many worker processes report running the stage (fresh entries of the
	// status bucket). JetStream does not count the clients of a pull consumer; Waiting is the
	// server's own, rougher, sign of someone pulling.
	Replicas int             `json:"replicas"`
	Breakers []BreakerReport `json:"breakers"`
}

// DeadLetters counts the stage's messages in AI_DLQ, on its subject ai.dlq.<stage>.
type DeadLetters struct {
	Subject  string `json:"subject"`
	Total    uint64 `json:"total"`
	LastHour uint64 `json:"last_hour"`
	// Newest is when the newest one was stored (the server's clock); absent with none.
	Newest *time.Time `json:"newest,omitempty"`
}

// BreakerReport is the breaker of one upstream of a stage across the replicas that run it.
type BreakerReport struct {
	Upstream string `json:"upstream"`
	// State is the worst any replica reports: open, then half-open, then closed.
	State string `json:"state"`
	// Replicas counts the replicas in each state; a replica whose stage has not called the
	// upstream yet has no breaker for it and is not counted.
	Replicas map[string]int `json:"replicas"`
	// OpenForMS is the longest time a replica's breaker stays open, as of its last report.
	OpenForMS int64 `json:"open_for_ms,omitempty"`
}

// Breaker states as the workers report them (breaker.State's String).
const (
	StateClosed   = "closed"
	StateHalfOpen = "half-open"
	StateOpen     = "open"
)

// severity orders states from best to worst; an unknown state ranks above closed.
func severity(state string) int {
	switch state {
	case StateClosed:
		return 0
	case StateHalfOpen:
		return 2
	case StateOpen:
		return 3
	default:
		return 1
	}
}

// AddReplicas counts, for every stage, the replicas running it and their breakers.
func AddReplicas(stages []StageReport, replicas []worker.Status) {
	index := make(map[string]*StageReport, len(stages))
	for i := range stages {
		index[stages[i].Stage] = &stages[i]
	}
	for _, r := range replicas {
		for _, st := range r.Stages {
			s, ok := index[st.Stage]
			if !ok {
				continue // a stage this CLI's streams/ does not know (a newer worker)
			}
			s.Replicas++
			for _, b := range st.Breakers {
				s.addBreaker(b)
			}
		}
	}
	for i := range stages {
		slices.SortFunc(stages[i].Breakers, func(a, b BreakerReport) int { return cmp.Compare(a.Upstream, b.Upstream) })
	}
}

func (s *StageReport) addBreaker(b worker.BreakerStatus) {
	i := slices.IndexFunc(s.Breakers, func(r BreakerReport) bool { return r.Upstream == b.Upstream })
	if i < 0 {
		s.Breakers = append(s.Breakers, BreakerReport{Upstream: b.Upstream, State: b.State, Replicas: map[string]int{}})
		i = len(s.Breakers) - 1
	}
	r := &s.Breakers[i]
	r.Replicas[b.State]++
	if severity(b.State) > severity(r.State) {
		r.State = b.State
	}
	r.OpenForMS = max(r.OpenForMS, b.OpenForMS)
}

// ProblemsFor applies the rule the exit code follows. A stage is a problem when
//   - a replica reports a breaker open: the stage has stopped pulling on that replica (half-open
//     is not: it lasts until the next message probes the upstream, which on an idle stage may
//     be long after the upstream came back);
//   - its dead letters are growing: the newest is younger than window (the server's clock
//     against this machine's);
//   - its consumer does not exist on the server, so no worker can serve it.
//
// A missing status bucket is a problem too: no breaker could be read.
func (r *Report) ProblemsFor(window time.Duration, bucketMissing bool) []string {
	var out []string
	if bucketMissing {
		out = append(out, "no status bucket on the server: run `jetflow streams apply`; no breaker state could be read")
	}
	for _, s := range r.Stages {
		if s.Missing {
			out = append(out, fmt.Sprintf("%s: consumer %s not found on stream %s: run `jetflow streams apply`", s.Stage, s.Consumer, s.Stream))
		}
		for _, b := range s.Breakers {
			if n := b.Replicas[StateOpen]; n > 0 {
				out = append(out, fmt.Sprintf("%s: breaker %s open on %d of %d replicas; the stage pulls no work there until it lets calls through",
					s.Stage, b.Upstream, n, s.Replicas))
			}
		}
		if d := s.DeadLetters; d.Newest != nil && r.Time.Sub(*d.Newest) < window {
			out = append(out, fmt.Sprintf("%s: dead letters growing: the newest is %s old, %d in the last hour (`jetflow dlq ls --stage %s`)",
				s.Stage, Age(r.Time.Sub(*d.Newest)), d.LastHour, s.Stage))
		}
	}
	return out
}

// Age is a duration rounded for a person: 42s, 3m10s, 2h5m.
func Age(d time.Duration) string {
	switch {
	case d < 0:
		return "0s"
	case d < time.Hour:
		return d.Round(time.Second).String()
	default:
		return strings.TrimSuffix(d.Round(time.Minute).String(), "0s")
	}
}
