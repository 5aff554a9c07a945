package deploy

import (
	"cmp"
	"slices"

	"github.com/jetflow-dev/jetflow/streams"
)

// Worker is one binary (cmd/<Name>) as deployed: its Deployment, PodDisruptionBudget,
// ScaledObject and NATS user all carry Name.
type Worker struct {
	Name string
	// Consumers are the durable consumers the worker's stages serve, each a KEDA trigger. Every
	// worker also runs the dead-letter-advisories consumer, which is not listed here: it is not
	// a scaling signal (see AdvisoryConsumer).
	Consumers []string
	// Buckets are the KV buckets the worker reads and writes by compare-and-swap.
	Buckets []string
	// Watches are the KV buckets the worker watches (an ordered consumer on the bucket).
	Watches []string
	// ResultKind is the second token of the worker's result subjects, ai.result.<kind>.<id>.
	ResultKind string
	// Handoffs are the subjects the worker publishes into its own stream for its next stage.
	Handoffs []string
	// TokenStream is true when the worker streams LLM tokens on core NATS (ai.stream.<id>).
	TokenStream bool
	// Services are the core NATS request-reply subjects the worker answers.
	Services []string
	// ReadsBack names streams the worker reads messages from by sequence (besides the advisory
	// catcher's reads).
	ReadsBack []string
	// Env are the configuration variables the Deployment sets besides the common ones (NATS_URL,
	// NATS_NKEY, HEALTH_ADDR, LOG_LEVEL, GOMEMLIMIT, OTEL_EXPORTER_OTLP_ENDPOINT).
	Env []string
	// Concurrency is the number of messages one replica's stage handles at once, which the
	// ScaledObject's lagThreshold and maxReplicaCount are sized from. The Deployment sets it
	// for every stage through ConcurrencyEnv: the workers' built-in defaults differ (chat
	// generation's is 64), so without the variables the sizing would not hold.
	Concurrency int
	// ConcurrencyEnv are the variables that set each stage's concurrency, one per consumer.
	ConcurrencyEnv []string
	// ReadsResults is true when the worker reads its own earlier results back from AI_RESULTS
	// (last message on a result subject).
	ReadsResults bool
	// Kubernetes is true when the worker calls the Kubernetes API and so gets a ServiceAccount
	// with a token.
	Kubernetes bool
}

// AdvisoryConsumer is served by every worker (the runtime's dead-letter advisory catcher). It is
// not a KEDA trigger: advisories are rare, and every replica of every worker already pulls them.
const AdvisoryConsumer = streams.ConsumerDeadLetterAdvisories

// Workers returns the five workers, sorted by name.
func Workers() []Worker {
	const concurrency = 8
	ws := []Worker{
		{
			Name:           "chat-handler",
			Env:            []string{"LLM_URL", "LLM_MODEL", "EMBEDDINGS_URL", "RERANKER_URL", "MILVUS_ADDR", "MILVUS_COLLECTION"},
			Concurrency:    concurrency,
			ConcurrencyEnv: []string{"CHAT_RETRIEVE_CONCURRENCY", "CHAT_GENERATE_CONCURRENCY"},
			Consumers:      []string{streams.ConsumerChatRetrieve, streams.ConsumerChatGenerate},
			ResultKind:     streams.ResultKindChat,
			Handoffs:       []string{streams.SubjectChatGenerate},
			TokenStream:    true,
		},
		{
			Name:           "pipeline-bridge",
			Env:            []string{"PIPELINES_FILE", "ARGO_NAMESPACE", "KFP_URL"},
			Concurrency:    concurrency,
			ConcurrencyEnv: []string{"PIPELINE_CONCURRENCY"},
			Consumers:      []string{streams.ConsumerPipelineBridge},
			ResultKind:     streams.ResultKindPipeline,
			Buckets:        []string{streams.BucketPipelineRuns},
			Kubernetes:     true,
		},
		{
			Name:           "stt-module",
			Env:            []string{"STT_URL"},
			Concurrency:    concurrency,
			ConcurrencyEnv: []string{"STT_CONCURRENCY"},
			Consumers:      []string{streams.ConsumerSTT},
			Buckets:        []string{streams.BucketSTTSessions},
			Watches:        []string{streams.BucketSTTSessions},
			ResultKind:     streams.ResultKindSTT,
			ReadsBack:      []string{streams.StreamSTT},
		},
		{
			Name:           "tts-module",
			Env:            []string{"TTS_URL"},
			Concurrency:    concurrency,
			ConcurrencyEnv: []string{"TTS_CONCURRENCY"},
			Consumers:      []string{streams.ConsumerTTS},
			ResultKind:     streams.ResultKindTTS,
			Services:       []string{streams.SubjectTTSVoices},
		},
		{
			Name:           "voice-assistant",
			Env:            []string{"STT_URL", "LLM_URL", "LLM_MODEL", "EMBEDDINGS_URL", "RERANKER_URL", "MILVUS_ADDR", "MILVUS_COLLECTION", "TTS_URL"},
			Concurrency:    concurrency,
			ConcurrencyEnv: []string{"VOICE_TRANSCRIBE_CONCURRENCY", "VOICE_ANSWER_CONCURRENCY", "VOICE_SYNTHESIZE_CONCURRENCY"},
			Consumers: []string{
				streams.ConsumerVoiceTranscribe, streams.ConsumerVoiceAnswer, streams.ConsumerVoiceSynthesize,
			},
			Buckets:      []string{streams.BucketVoiceSessions},
			Watches:      []string{streams.BucketVoiceSessions},
			ReadsResults: true,
			ResultKind:   streams.ResultKindVoice,
			Handoffs:     []string{streams.SubjectVoiceAnswer, streams.SubjectVoiceSynthesize},
			TokenStream:  true,
		},
	}
	slices.SortFunc(ws, func(a, b Worker) int { return cmp.Compare(a.Name, b.Name) })
	return ws
}
