package status

import (
	"time"

	"github.com/jetflow-dev/jetflow/internal/worker"
)

// The same fixtures as stagestatus's tests, for the rendering tests.

var reportTime = time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)

func replica(name string, stages ...worker.StageStatus) worker.Status {
	return worker.Status{Worker: "tts-module", Replica: name, Stages: stages, IntervalMS: 5000, UpdatedAt: reportTime}
}

func ttsStage(state string, openForMS int64) worker.StageStatus {
	gate := map[string]string{stateClosed: worker.GatePulling, stateHalfOpen: worker.GateProbing, stateOpen: worker.GatePaused}[state]
	return worker.StageStatus{Stage: "tts", Stream: "AI_TTS", Consumer: "tts", Gate: gate,
		Breakers: []worker.BreakerStatus{{Upstream: "tts", State: state, OpenForMS: openForMS}}}
}

func newestAt(ago time.Duration) *time.Time {
	t := reportTime.Add(-ago)
	return &t
}
