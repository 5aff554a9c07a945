// Command voice-assistant answers spoken questions: VoiceRequest on ai.voice.request, through the
// voice-transcribe, voice-answer and voice-synthesize stages, to audio chunks and a VoiceResponse
// on ai.result.voice.<request_id>.
//
// `voice-assistant --help` lists every environment variable it reads and its exit codes.
package main

import (
	"os"

	"github.com/jetflow-dev/jetflow/internal/worker"
	"github.com/jetflow-dev/jetflow/workers/voice"
)

// summary is what --help says the binary does.
const summary = "answers spoken questions: a VoiceRequest on ai.voice.request goes through the voice-transcribe, voice-answer and voice-synthesize stages to audio chunks and a VoiceResponse on ai.result.voice.<request_id>."

func main() {
	os.Exit(worker.Command{Name: "voice-assistant", Summary: summary, Env: voice.Env, Build: voice.Build}.Main())
}
