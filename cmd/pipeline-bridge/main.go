// Command pipeline-bridge starts allow-listed Argo Workflows and Kubeflow Pipelines runs from
// PipelineTrigger messages and publishes their status. Configuration: see pipeline.Build.
package main

import (
	"os"

	"github.com/jetflow-dev/jetflow/internal/worker"
	"github.com/jetflow-dev/jetflow/workers/pipeline"
)

func main() { os.Exit(worker.Main("pipeline-bridge", pipeline.Build)) }
