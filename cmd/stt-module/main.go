// Command stt-module turns streamed audio chunks into transcripts: ordered per session across
// replicas, segmented by a VAD, transcribed by an OpenAI-compatible server. Configuration: see
// stt.Build.
package main

import (
	"os"

	"github.com/jetflow-dev/jetflow/internal/worker"
	"github.com/jetflow-dev/jetflow/workers/stt"
)

func main() { os.Exit(worker.Main("stt-module", stt.Build)) }
