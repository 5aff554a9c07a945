package streams

// Stream names. Each has a file stream/<name>.json.
const (
	StreamChat       = "AI_CHAT"
	StreamVoice      = "AI_VOICE"
	StreamSTT        = "AI_STT"
	StreamTTS        = "AI_TTS"
	StreamPipeline   = "AI_PIPELINE"
	StreamResults    = "AI_RESULTS"
	StreamDeadLetter = "AI_DLQ"
	StreamAdvisories = "AI_ADVISORIES"
)

// Durable consumer names, one per stage. Each has a file consumer/<stream>/<name>.json. By
// convention a stage's dead letters go to DeadLetterSubject(<consumer name>).
const (
	ConsumerChatRetrieve         = "chat-retrieve"
	ConsumerChatGenerate         = "chat-generate"
	ConsumerVoiceTranscribe      = "voice-transcribe"
	ConsumerVoiceAnswer          = "voice-answer"
	ConsumerVoiceSynthesize      = "voice-synthesize"
	ConsumerSTT                  = "stt"
	ConsumerTTS                  = "tts"
	ConsumerPipelineBridge       = "pipeline-bridge"
	ConsumerDeadLetterAdvisories = "dead-letter-advisories"
)

// KV bucket names. Each has a file kv/<bucket>.json.
const (
	BucketVoiceSessions = "voice-sessions"
	BucketSTTSessions   = "stt-sessions"
	// BucketPipelineRuns holds pipeline-bridge's KFP run-name claims, so that two replicas
	// racing on one trigger create one run.
	BucketPipelineRuns = "pipeline-runs"
)
