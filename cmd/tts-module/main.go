// Command tts-module turns text into speech: TtsRequest on ai.tts.request, audio chunks on
// ai.result.tts.<request_id>, voices on ai.tts.voices.
//
// `tts-module --help` lists every environment variable it reads and its exit codes.
package main

import (
	"os"

	"github.com/jetflow-dev/jetflow/internal/worker"
	"github.com/jetflow-dev/jetflow/workers/tts"
)

// summary is what --help says the binary does.
const summary = "turns text into speech: a TtsRequest on ai.tts.request becomes audio chunks on ai.result.tts.<request_id>; ai.tts.voices lists the voices."

func main() {
	os.Exit(worker.Command{Name: "tts-module", Summary: summary, Env: tts.Env, Build: tts.Build}.Main())
}
