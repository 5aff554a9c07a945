// Command stt-module turns streamed audio chunks into transcripts: ordered per session across
// replicas, segmented by a VAD, transcribed by an OpenAI-compatible server.
//
// `stt-module --help` lists every environment variable it reads and its exit codes.
package main

import (
	"os"

	"github.com/jetflow-dev/jetflow/internal/worker"
	"github.com/jetflow-dev/jetflow/workers/stt"
)

// summary is what --help says the binary does.
const summary = "turns streamed audio chunks on ai.stt.audio.<session_id> into transcripts on ai.result.stt.<session_id>: ordered per session across replicas, segmented by a VAD, transcribed by an OpenAI-compatible server."

func main() {
	os.Exit(worker.Command{Name: "stt-module", Summary: summary, Env: stt.Env, Build: stt.Build}.Main())
}
