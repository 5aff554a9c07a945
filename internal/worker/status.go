package worker

import (
	"time"

	"github.com/jetflow-dev/jetflow/internal/breaker"
)

// Status is one worker replica's entry in the streams.BucketStatus bucket, under
// streams.StatusKey(Worker, Replica), as JSON. StatusPublisher writes it; `jetflow status` reads
// it. Fields are only ever added, so that an older CLI reads a newer worker's entry.
type Status struct {
	Worker string `json:"worker"`
	// Replica tells the processes of one worker apart: the host (pod) name and a random suffix,
	// so that a restarted pod with the same name is a new replica.
	Replica string        `json:"replica"`
	Stages  []StageStatus `json:"stages"`
	// IntervalMS is how often the replica puts its entry when nothing changes (STATUS_INTERVAL),
	// in milliseconds.
	IntervalMS int64 `json:"interval_ms"`
	// UpdatedAt is when the replica read its breakers for this entry (the replica's clock).
	UpdatedAt time.Time `json:"updated_at"`
}

// StageStatus is one stage the replica runs.
type StageStatus struct {
	// Stage is the stage's name, which is its consumer's name.
	Stage    string `json:"stage"`
	Stream   string `json:"stream"`
	Consumer string `json:"consumer"`
	// Gate says whether the stage pulls work: GatePulling, GatePaused or GateProbing.
	Gate string `json:"gate"`
	// Breakers are the stage's upstreams it has called so far, sorted by name; a stage with no
	// breakers (the dead-letter advisory catcher) has none.
	Breakers []BreakerStatus `json:"breakers"`
}

// BreakerStatus is the breaker of one upstream of a stage.
type BreakerStatus struct {
	Upstream string `json:"upstream"`
	// State is "closed", "half-open" or "open" (breaker.State's String).
	State string `json:"state"`
	// OpenForMS is how long the breaker stays open after UpdatedAt, in milliseconds; 0 unless
	// State is "open".
	OpenForMS int64 `json:"open_for_ms,omitempty"`
}

// The values of StageStatus.Gate.
const (
	// GatePulling: every breaker is closed; the stage pulls work.
	GatePulling = "pulling"
	// GatePaused: a breaker is open; the stage pulls nothing until it lets calls through.
	GatePaused = "paused"
	// GateProbing: a breaker is half-open; the stage takes one message at a time until the probe
	// decides.
	GateProbing = "probing"
)

// stageStatus reads the breakers of one stage as the stage runtime's gate would decide on them,
// without moving them (breaker.Set.States).
func stageStatus(stage, stream string, set *breaker.Set) StageStatus {
	s := StageStatus{Stage: stage, Stream: stream, Consumer: stage, Gate: GatePulling, Breakers: []BreakerStatus{}}
	if set == nil {
		return s
	}
	for _, u := range set.States() {
		s.Breakers = append(s.Breakers, BreakerStatus{Upstream: u.Upstream, State: u.State.String(), OpenForMS: u.OpenFor.Milliseconds()})
		switch {
		case u.State == breaker.Open:
			s.Gate = GatePaused
		case u.State == breaker.HalfOpen && s.Gate != GatePaused:
			s.Gate = GateProbing
		}
	}
	return s
}

// sameStates reports whether a and b show the same gates and breaker states; the time left
// open, which shrinks on every read, does not count as a change.
func sameStates(a, b []StageStatus) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Stage != b[i].Stage || a[i].Gate != b[i].Gate || len(a[i].Breakers) != len(b[i].Breakers) {
			return false
		}
		for j := range a[i].Breakers {
			if a[i].Breakers[j].Upstream != b[i].Breakers[j].Upstream || a[i].Breakers[j].State != b[i].Breakers[j].State {
				return false
			}
		}
	}
	return true
}
