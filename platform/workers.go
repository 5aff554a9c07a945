// Package platform is the list of jetflow's five workers: the one place that names them
// together. The jetflow dev platform runs them from it and the tests iterate it. It lives outside
// workers/ so that nothing under workers/ imports a worker: workers stand alone, and only this
// list, which is not a worker, imports them all.
package platform

import (
	"github.com/jetflow-dev/jetflow/internal/worker"
	"github.com/jetflow-dev/jetflow/workers/chat"
	"github.com/jetflow-dev/jetflow/workers/pipeline"
	"github.com/jetflow-dev/jetflow/workers/stt"
	"github.com/jetflow-dev/jetflow/workers/tts"
	"github.com/jetflow-dev/jetflow/workers/voice"
)

// Worker is one worker: its binary's and service's name, and how it assembles its stages.
type Worker struct {
	// Name is the binary (cmd/<Name>), the service name in logs and traces, and the Deployment.
	Name  string
	Build worker.Build
	// Needs lists variables without which the worker has nothing to do outside a cluster (the
	// pipeline allow-list): the dev platform skips it, and says so, when one is unset.
	Needs []string
}

// All lists the five workers, in the order the dev platform starts them.
var All = []Worker{
	{Name: "chat-handler", Build: chat.Build},
	{Name: "tts-module", Build: tts.Build},
	{Name: "voice-assistant", Build: voice.Build},
	{Name: "stt-module", Build: stt.Build},
	{Name: "pipeline-bridge", Build: pipeline.Build, Needs: []string{"PIPELINES_FILE"}},
}

// Names are the workers' names, in All's order.
func Names() []string {
	names := make([]string, len(All))
	for i, w := range All {
		names[i] = w.Name
	}
	return names
}

// ByName finds a worker.
func ByName(name string) (Worker, bool) {
	for _, w := range All {
		if w.Name == name {
			return w, true
		}
	}
	return Worker{}, false
}
