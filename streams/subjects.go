package streams

// Subjects that stages publish to and consume from. Build per-id subjects with the functions
// below; never spell a subject elsewhere.
const (
	SubjectChatRequest     = "ai.chat.request"
	SubjectChatGenerate    = "ai.chat.generate"
	SubjectVoiceRequest    = "ai.voice.request"
	SubjectVoiceAnswer     = "ai.voice.answer"
	SubjectVoiceSynthesize = "ai.voice.synthesize"
	SubjectTTSRequest      = "ai.tts.request"
	SubjectPipelineTrigger = "ai.pipeline.trigger"
	// SubjectTTSVoices answers requests for the voices list (a NATS micro service of tts-module;
	// core NATS request-reply, no stream).
	SubjectTTSVoices = "ai.tts.voices"
)

// Wildcard subjects: what the streams capture, and the filters of consumers that take a whole
// family of subjects. AI_CHAT and AI_VOICE capture only their stages' exact subjects, so that a
// misspelt subject fails at once ("no responders") instead of waiting in a work queue no
// consumer reads.
const (
	SubjectSTTAudioAll   = "ai.stt.audio.>"
	SubjectResultAll     = "ai.result.>"
	SubjectDeadLetterAll = "ai.dlq.>"
	// SubjectAdvisoryMaxDeliveriesAll is every MAX_DELIVERIES advisory of the account. AI_ADVISORIES
	// captures it: advisories are core NATS messages the server sends only while someone has
	// interest, so a stream is what makes them survive a moment with no worker connected.
	SubjectAdvisoryMaxDeliveriesAll = "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.>"
)

// Result kinds, the second token of a result subject.
const (
	ResultKindChat     = "chat"
	ResultKindVoice    = "voice"
	ResultKindSTT      = "stt"
	ResultKindTTS      = "tts"
	ResultKindPipeline = "pipeline"
)

const (
	sttAudioPrefix      = "ai.stt.audio."
	resultPrefix        = "ai.result."
	deadLetterPrefix    = "ai.dlq."
	tokenStreamPrefix   = "ai.stream."
	maxDeliveriesPrefix = "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES."
)

// The functions below do not validate their arguments: an id with a '.' or a wildcard would
// make a different subject. Ids from outside (messages, HTTP requests) are checked first by the
// Validate methods of the proto messages that carry them (jetflowv1.ValidSubjectToken).

// STTAudioSubject is the subject of a session's audio chunks, "ai.stt.audio.<sessionID>".
func STTAudioSubject(sessionID string) string { return sttAudioPrefix + sessionID }

// ResultSubject is the durable result of request id of a kind (ResultKindChat...),
// "ai.result.<kind>.<id>".
func ResultSubject(kind, id string) string { return resultPrefix + kind + "." + id }

// DeadLetterSubject is where a stage's failed messages go, "ai.dlq.<stage>"; the stage is the
// consumer name.
func DeadLetterSubject(stage string) string { return deadLetterPrefix + stage }

// TokenStreamSubject carries the live tokens of an LLM answer over core NATS,
// "ai.stream.<requestID>". No stream captures it on purpose: it is at-most-once display data,
// and the final answer is durable under ResultSubject.
func TokenStreamSubject(requestID string) string { return tokenStreamPrefix + requestID }

// AdvisoryMaxDeliveriesSubject is the server's advisory for a message of stream that consumer
// gave up on after max_deliver attempts.
func AdvisoryMaxDeliveriesSubject(stream, consumer string) string {
	return maxDeliveriesPrefix + stream + "." + consumer
}
