// Command tts-module turns text into speech: TtsRequest on ai.tts.request, audio chunks on
// ai.result.tts.<request_id>, voices on ai.tts.voices. Configuration: README.md.
package main

import (
	"os"

	"github.com/jetflow-dev/jetflow/internal/worker"
	"github.com/jetflow-dev/jetflow/workers/tts"
)

func main() { os.Exit(worker.Main("tts-module", tts.Build)) }
