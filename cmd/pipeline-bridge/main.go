// Command pipeline-bridge starts allow-listed Argo Workflows and Kubeflow Pipelines runs from
// PipelineTrigger messages and publishes their status.
//
// `pipeline-bridge --help` lists every environment variable it reads and its exit codes.
package main

import (
	"os"

	"github.com/jetflow-dev/jetflow/internal/worker"
	"github.com/jetflow-dev/jetflow/workers/pipeline"
)

// summary is what --help says the binary does.
const summary = "starts allow-listed Argo Workflows and Kubeflow Pipelines runs from PipelineTrigger messages on ai.pipeline.trigger and publishes their status on ai.result.pipeline.<request_id>."

func main() {
	os.Exit(worker.Command{Name: "pipeline-bridge", Summary: summary, Env: pipeline.Env, Build: pipeline.Build}.Main())
}
