// Command voice-assistant answers spoken questions: VoiceRequest on ai.voice.request, through the
// voice-transcribe, voice-answer and voice-synthesize stages, to audio chunks and a VoiceResponse
// on ai.result.voice.<request_id>. Configuration: workers/voice (Build, ConfigFromEnv).
package main

import (
	"os"

	"github.com/jetflow-dev/jetflow/internal/worker"
	"github.com/jetflow-dev/jetflow/workers/voice"
)

func main() { os.Exit(worker.Main("voice-assistant", voice.Build)) }
