package jetflowv1

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// ErrInvalid is matched (errors.Is) by every error a Validate method returns.
//
// The schema only says what is wrong: it imports no package of jetflow's, so it does not decide
// what a failure means. The stage runtime, which validates every input it decodes, classifies a
// validation failure as permanent (the message is dead-lettered, never retried).
var ErrInvalid = errors.New("invalid message")

// ValidationError is the error of a Validate method: which field is wrong, and why. Match it
// with errors.As, or any of them with errors.Is(err, ErrInvalid).
type ValidationError struct {
	// Field is the field's path in the message ("query", "history[2].content"), or "message"
	// when the message itself is nil.
	Field string
	// Reason says what is wrong with it, for an operator reading a dead letter.
	Reason string
}

func (e *ValidationError) Error() string {
	return ErrInvalid.Error() + ": " + e.Field + ": " + e.Reason
}

// Is makes every ValidationError match ErrInvalid.
func (e *ValidationError) Is(target error) bool { return target == ErrInvalid }

// Limits on inbound messages. Every message that enters a stage from outside is checked against
// them before it is used, so that a hostile or broken producer gets a dead letter with a clear
// reason instead of a crash, an oversized model call or a malformed NATS subject. Sizes in
// bytes are UTF-8 bytes; lengths in characters are runes.
const (
	// MaxIDLen bounds request_id, session_id and turn_id (characters of [A-Za-z0-9_-]) and
	// user_id (printable characters).
	MaxIDLen = 128
	// MaxQueryBytes bounds a chat question and a voice transcript.
	MaxQueryBytes = 32 << 10
	// MaxHistory bounds the number of earlier turns in a ChatRequest.
	MaxHistory = 100
	// MaxMessageBytes bounds the content of one ChatMessage.
	MaxMessageBytes = 32 << 10
	// MaxTopK bounds top_k; 0 means the worker's default.
	MaxTopK = 100
	// MaxCollectionLen bounds a Milvus collection name (characters of [A-Za-z0-9_]), Milvus's
	// own limit.
	MaxCollectionLen = 255
	// MaxSystemPromptBytes bounds a caller's system prompt.
	MaxSystemPromptBytes = 32 << 10
	// MaxModelNameLen bounds ModelOptions.model (printable characters).
	MaxModelNameLen = 256
	// MaxTemperature is the highest sampling temperature the OpenAI API accepts.
	MaxTemperature = 2
	// MaxMaxTokens bounds ModelOptions.max_tokens; 0 means the server's default.
	MaxMaxTokens = 131072
	// MaxTopP is the highest nucleus sampling probability mass.
	MaxTopP = 1
	// MaxAudioBytes bounds the audio of a VoiceRequest or VoiceTurn.
	MaxAudioBytes = 16 << 20
	// MinSampleRate and MaxSampleRate bound every sample rate, in Hz.
	MinSampleRate = 8000
	MaxSampleRate = 48000
	// MaxChannels bounds AudioFormat.channels.
	MaxChannels = 2
	// MaxPCMBytes bounds the pcm of one SttAudioChunk (16 s of 16 kHz PCM16 mono), well under
	// the NATS default max payload of 1 MiB.
	MaxPCMBytes = 512 << 10
	// MaxTtsTextBytes bounds the text of a TtsRequest.
	MaxTtsTextBytes = 8 << 10
	// MinSpeed and MaxSpeed bound TtsRequest.speed when it is set (OpenAI's speech API range).
	MinSpeed = 0.25
	MaxSpeed = 4
	// MaxVoiceLen bounds a voice id (printable characters).
	MaxVoiceLen = 128
	// MaxLanguageLen bounds a BCP 47 language tag (characters of [A-Za-z0-9-]).
	MaxLanguageLen = 35
	// MaxAnswerBytes bounds an answer carried in a VoiceTurn.
	MaxAnswerBytes = 256 << 10
	// MaxSources bounds the sources carried in a hand-off (the largest top_k).
	MaxSources = MaxTopK
	// MaxTimings bounds the stage timings carried in a hand-off.
	MaxTimings = 64
	// MaxPipelineNameLen bounds a pipeline name (characters of [a-z0-9-]), a Kubernetes label's
	// limit.
	MaxPipelineNameLen = 63
	// MaxParameters bounds the parameters of a PipelineTrigger.
	MaxParameters = 64
	// MaxParameterKeyLen bounds a parameter key (characters of [A-Za-z_][A-Za-z0-9_-]*).
	MaxParameterKeyLen = 64
	// MaxParameterValueBytes bounds a parameter value.
	MaxParameterValueBytes = 4 << 10
	// MaxDeadLetterPage bounds ListDeadLettersRequest.limit and the sequences of one
	// ReplayDeadLettersRequest.
	MaxDeadLetterPage = 1000
)

// Chat roles accepted in ChatRequest.history.
const (
	RoleSystem    = "system"
	RoleUser      = "user"
	RoleAssistant = "assistant"
)

// ValidSubjectToken reports whether s can be used as one NATS subject token and in a
// Nats-Msg-Id: 1..MaxIDLen characters of [A-Za-z0-9_-]. Dots would split the token, and
// wildcards and whitespace would break the subject.
func ValidSubjectToken(s string) bool {
	if len(s) == 0 || len(s) > MaxIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isTokenByte(s[i]) {
			return false
		}
	}
	return true
}

// Validate checks every field of a chat question.
func (m *ChatRequest) Validate() error { return m.validate("") }

func (m *ChatRequest) validate(prefix string) error {
	if m == nil {
		return missing(prefix)
	}
	if err := validateCommon(prefix, m, false); err != nil {
		return err
	}
	if err := checkText(prefix+"query", m.GetQuery(), true, MaxQueryBytes); err != nil {
		return err
	}
	if n := len(m.GetHistory()); n > MaxHistory {
		return invalid(prefix+"history", "has %d entries, more than %d", n, MaxHistory)
	}
	for i, msg := range m.GetHistory() {
		field := fmt.Sprintf("%shistory[%d]", prefix, i)
		if msg == nil {
			return missing(field + ".")
		}
		switch msg.GetRole() {
		case RoleSystem, RoleUser, RoleAssistant:
		default:
			return invalid(field+".role", "must be %s, %s or %s", RoleSystem, RoleUser, RoleAssistant)
		}
		if err := checkText(field+".content", msg.GetContent(), false, MaxMessageBytes); err != nil {
			return err
		}
	}
	if k := m.GetTopK(); k < 0 || k > MaxTopK {
		return invalid(prefix+"top_k", "is %d, must be 0..%d", k, MaxTopK)
	}
	if err := checkCollection(prefix+"collection", m.GetCollection()); err != nil {
		return err
	}
	if err := checkText(prefix+"system_prompt", m.GetSystemPrompt(), false, MaxSystemPromptBytes); err != nil {
		return err
	}
	return m.GetModelOptions().validate(prefix + "model_options.")
}

func (m *ModelOptions) validate(prefix string) error {
	if m == nil {
		return nil
	}
	if err := checkPrintable(prefix+"model", m.GetModel(), MaxModelNameLen); err != nil {
		return err
	}
	if m.Temperature != nil && !inRange(float64(m.GetTemperature()), 0, MaxTemperature) {
		return invalid(prefix+"temperature", "is %v, must be 0..%d", m.GetTemperature(), MaxTemperature)
	}
	if n := m.GetMaxTokens(); n < 0 || n > MaxMaxTokens {
		return invalid(prefix+"max_tokens", "is %d, must be 0..%d", n, MaxMaxTokens)
	}
	if m.TopP != nil && !inRange(float64(m.GetTopP()), 0, MaxTopP) {
		return invalid(prefix+"top_p", "is %v, must be 0..%d", m.GetTopP(), MaxTopP)
	}
	return nil
}

// Validate checks the hand-off from chat retrieval to generation, the request it carries, and
// that the common fields are the request's own.
func (m *ChatGenerateTask) Validate() error {
	if m == nil {
		return missing("")
	}
	if err := validateCommon("", m, false); err != nil {
		return err
	}
	r := m.GetRequest()
	if r == nil {
		return invalid("request", "is required")
	}
	if err := r.validate("request."); err != nil {
		return err
	}
	switch {
	case m.GetRequestId() != r.GetRequestId():
		return invalid("request_id", "differs from request.request_id")
	case m.GetSessionId() != r.GetSessionId():
		return invalid("session_id", "differs from request.session_id")
	case m.GetUserId() != r.GetUserId():
		return invalid("user_id", "differs from request.user_id")
	case !proto.Equal(m.GetDeadline(), r.GetDeadline()):
		return invalid("deadline", "differs from request.deadline")
	}
	return checkHandOff("", len(m.GetSources()), len(m.GetTimings()))
}

// Validate checks a spoken question.
func (m *VoiceRequest) Validate() error { return m.validate("") }

func (m *VoiceRequest) validate(prefix string) error {
	if m == nil {
		return missing(prefix)
	}
	if err := validateCommon(prefix, m, false); err != nil {
		return err
	}
	if err := checkAudio(prefix+"audio", m.GetAudio(), true); err != nil {
		return err
	}
	if err := m.GetFormat().validate(prefix+"format.", true); err != nil {
		return err
	}
	if err := checkLanguage(prefix+"language", m.GetLanguage()); err != nil {
		return err
	}
	if err := checkPrintable(prefix+"voice", m.GetVoice(), MaxVoiceLen); err != nil {
		return err
	}
	if err := checkCollection(prefix+"collection", m.GetCollection()); err != nil {
		return err
	}
	return checkToken(prefix+"turn_id", m.GetTurnId(), false)
}

// Validate checks a voice turn between stages. A turn carries the audio until it is
// transcribed and the transcript after, so it must have one of them.
func (m *VoiceTurn) Validate() error {
	if m == nil {
		return missing("")
	}
	if err := validateCommon("", m, false); err != nil {
		return err
	}
	if err := checkToken("turn_id", m.GetTurnId(), true); err != nil {
		return err
	}
	if err := checkText("transcript", m.GetTranscript(), false, MaxQueryBytes); err != nil {
		return err
	}
	if err := checkText("answer", m.GetAnswer(), false, MaxAnswerBytes); err != nil {
		return err
	}
	if err := checkHandOff("", len(m.GetSources()), len(m.GetTimings())); err != nil {
		return err
	}
	if err := checkPrintable("voice", m.GetVoice(), MaxVoiceLen); err != nil {
		return err
	}
	if err := checkLanguage("language", m.GetLanguage()); err != nil {
		return err
	}
	if err := m.GetInputFormat().validate("input_format.", true); err != nil {
		return err
	}
	if err := checkAudio("audio", m.GetAudio(), false); err != nil {
		return err
	}
	if len(m.GetAudio()) == 0 && strings.TrimSpace(m.GetTranscript()) == "" {
		return invalid("audio", "is required until the turn has a transcript")
	}
	return checkCollection("collection", m.GetCollection())
}

// Validate checks one chunk of a live audio stream. The session id is required: it keys the
// stream's state.
func (m *SttAudioChunk) Validate() error { return m.validate("") }

func (m *SttAudioChunk) validate(prefix string) error {
	if m == nil {
		return missing(prefix)
	}
	if err := validateCommon(prefix, m, true); err != nil {
		return err
	}
	if s := m.GetSequence(); s < 0 {
		return invalid(prefix+"sequence", "is %d, must be >= 0", s)
	}
	pcm := m.GetPcm()
	switch {
	case len(pcm) == 0 && !m.GetEndOfStream():
		return invalid(prefix+"pcm", "is required unless end_of_stream is set")
	case len(pcm)%2 != 0:
		return invalid(prefix+"pcm", "has %d bytes, PCM16 needs an even count", len(pcm))
	case len(pcm) > MaxPCMBytes:
		return invalid(prefix+"pcm", "has %d bytes, more than %d", len(pcm), MaxPCMBytes)
	}
	if err := checkSampleRate(prefix+"sample_rate", m.GetSampleRate(), true); err != nil {
		return err
	}
	if err := checkToken(prefix+"speaker_id", m.GetSpeakerId(), false); err != nil {
		return err
	}
	return checkLanguage(prefix+"language", m.GetLanguage())
}

// Validate checks a request for speech.
func (m *TtsRequest) Validate() error { return m.validate("") }

func (m *TtsRequest) validate(prefix string) error {
	if m == nil {
		return missing(prefix)
	}
	if err := validateCommon(prefix, m, false); err != nil {
		return err
	}
	if err := checkText(prefix+"text", m.GetText(), true, MaxTtsTextBytes); err != nil {
		return err
	}
	if err := checkPrintable(prefix+"voice", m.GetVoice(), MaxVoiceLen); err != nil {
		return err
	}
	if err := m.GetFormat().validate(prefix+"format.", false); err != nil {
		return err
	}
	if s := m.GetSpeed(); s != 0 && !inRange(float64(s), MinSpeed, MaxSpeed) {
		return invalid(prefix+"speed", "is %v, must be 0 or %v..%v", s, MinSpeed, MaxSpeed)
	}
	return nil
}

// Validate checks a pipeline trigger's shape. Whether the pipeline may run is the allow-list's
// call, not this one's.
func (m *PipelineTrigger) Validate() error { return m.validate("") }

func (m *PipelineTrigger) validate(prefix string) error {
	if m == nil {
		return missing(prefix)
	}
	if err := validateCommon(prefix, m, false); err != nil {
		return err
	}
	if !ValidPipelineName(m.GetPipeline()) {
		return invalid(prefix+"pipeline", "must be 1..%d characters of [a-z0-9-]", MaxPipelineNameLen)
	}
	params := m.GetParameters()
	if len(params) > MaxParameters {
		return invalid(prefix+"parameters", "has %d entries, more than %d", len(params), MaxParameters)
	}
	// Sorted so that the same bad message always gets the same reason.
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if !ValidParameterKey(k) {
			return invalid(prefix+"parameters", "key %q must match [A-Za-z_][A-Za-z0-9_-]{0,%d}", truncate(k, MaxParameterKeyLen), MaxParameterKeyLen-1)
		}
		if n := len(params[k]); n > MaxParameterValueBytes {
			return invalid(fmt.Sprintf("%sparameters[%s]", prefix, k), "has %d bytes, more than %d", n, MaxParameterValueBytes)
		}
	}
	return nil
}

// Validate checks the wrapped question.
func (m *ChatStreamRequest) Validate() error {
	if m.GetRequest() == nil {
		return invalid("request", "is required")
	}
	return m.GetRequest().validate("request.")
}

// Validate checks the wrapped spoken question.
func (m *AskRequest) Validate() error {
	if m.GetRequest() == nil {
		return invalid("request", "is required")
	}
	return m.GetRequest().validate("request.")
}

// Validate checks the wrapped speech request.
func (m *SynthesizeRequest) Validate() error {
	if m.GetRequest() == nil {
		return invalid("request", "is required")
	}
	return m.GetRequest().validate("request.")
}

// Validate checks the wrapped audio chunk.
func (m *TranscribeRequest) Validate() error {
	if m.GetChunk() == nil {
		return invalid("chunk", "is required")
	}
	return m.GetChunk().validate("chunk.")
}

// Validate checks the wrapped pipeline trigger.
func (m *TriggerRequest) Validate() error {
	if m.GetTrigger() == nil {
		return invalid("trigger", "is required")
	}
	return m.GetTrigger().validate("trigger.")
}

// Validate checks a dead-letter listing: the stage becomes a subject token.
func (m *ListDeadLettersRequest) Validate() error {
	if err := checkToken("stage", m.GetStage(), false); err != nil {
		return err
	}
	if n := m.GetLimit(); n < 0 || n > MaxDeadLetterPage {
		return invalid("limit", "is %d, must be 0..%d", n, MaxDeadLetterPage)
	}
	return nil
}

// Validate checks a replay selection: stream sequences start at 1.
func (m *ReplayDeadLettersRequest) Validate() error {
	seqs := m.GetSequences()
	if len(seqs) == 0 || len(seqs) > MaxDeadLetterPage {
		return invalid("sequences", "has %d entries, must have 1..%d", len(seqs), MaxDeadLetterPage)
	}
	for i, s := range seqs {
		if s == 0 {
			return invalid(fmt.Sprintf("sequences[%d]", i), "is 0, stream sequences start at 1")
		}
	}
	return nil
}

func (m *AudioFormat) validate(prefix string, input bool) error {
	if m == nil {
		return nil
	}
	if _, ok := AudioFormat_Encoding_name[int32(m.GetEncoding())]; !ok {
		return invalid(prefix+"encoding", "%d is not a known encoding", m.GetEncoding())
	}
	// Raw PCM has no header to read the rate from.
	rateRequired := input && m.GetEncoding() == AudioFormat_ENCODING_PCM16
	if err := checkSampleRate(prefix+"sample_rate", m.GetSampleRate(), rateRequired); err != nil {
		return err
	}
	if c := m.GetChannels(); c < 0 || c > MaxChannels {
		return invalid(prefix+"channels", "is %d, must be 0..%d", c, MaxChannels)
	}
	return nil
}

// common is what the runtime reads from every inbound payload.
type common interface {
	GetRequestId() string
	GetSessionId() string
	GetDeadline() *timestamppb.Timestamp
	GetUserId() string
}

func validateCommon(prefix string, m common, sessionRequired bool) error {
	if err := checkToken(prefix+"request_id", m.GetRequestId(), true); err != nil {
		return err
	}
	if err := checkToken(prefix+"session_id", m.GetSessionId(), sessionRequired); err != nil {
		return err
	}
	if d := m.GetDeadline(); d != nil {
		if err := d.CheckValid(); err != nil {
			return invalid(prefix+"deadline", "%v", err)
		}
	}
	return checkPrintable(prefix+"user_id", m.GetUserId(), MaxIDLen)
}

func checkHandOff(prefix string, sources, timings int) error {
	if sources > MaxSources {
		return invalid(prefix+"sources", "has %d entries, more than %d", sources, MaxSources)
	}
	if timings > MaxTimings {
		return invalid(prefix+"timings", "has %d entries, more than %d", timings, MaxTimings)
	}
	return nil
}

func checkToken(field, s string, required bool) error {
	if s == "" && !required {
		return nil
	}
	if !ValidSubjectToken(s) {
		return invalid(field, "must be 1..%d characters of [A-Za-z0-9_-]", MaxIDLen)
	}
	return nil
}

// checkText bounds free text; required text must have more than white space.
func checkText(field, s string, required bool, maxBytes int) error {
	if required && strings.TrimSpace(s) == "" {
		return invalid(field, "is required")
	}
	if len(s) > maxBytes {
		return invalid(field, "has %d bytes, more than %d", len(s), maxBytes)
	}
	return nil
}

func checkPrintable(field, s string, maxChars int) error {
	if n := utf8.RuneCountInString(s); n > maxChars {
		return invalid(field, "has %d characters, more than %d", n, maxChars)
	}
	for _, r := range s {
		if r == utf8.RuneError || !unicode.IsPrint(r) {
			return invalid(field, "must be printable characters")
		}
	}
	return nil
}

func checkCollection(field, s string) error {
	if len(s) > MaxCollectionLen {
		return invalid(field, "has %d characters, more than %d", len(s), MaxCollectionLen)
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c != '_' && !isAlnum(c) {
			return invalid(field, "must be characters of [A-Za-z0-9_]")
		}
	}
	return nil
}

func checkLanguage(field, s string) error {
	if len(s) > MaxLanguageLen {
		return invalid(field, "has %d characters, more than %d", len(s), MaxLanguageLen)
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c != '-' && !isAlnum(c) {
			return invalid(field, "must be a BCP 47 tag, characters of [A-Za-z0-9-]")
		}
	}
	return nil
}

func checkAudio(field string, b []byte, required bool) error {
	if required && len(b) == 0 {
		return invalid(field, "is required")
	}
	if len(b) > MaxAudioBytes {
		return invalid(field, "has %d bytes, more than %d", len(b), MaxAudioBytes)
	}
	return nil
}

func checkSampleRate(field string, hz int32, required bool) error {
	if hz == 0 && !required {
		return nil
	}
	if hz < MinSampleRate || hz > MaxSampleRate {
		return invalid(field, "is %d Hz, must be %d..%d", hz, MinSampleRate, MaxSampleRate)
	}
	return nil
}

// ValidPipelineName reports whether s can name a pipeline: 1..MaxPipelineNameLen characters of
// [a-z0-9-], so that it can be a Kubernetes label value. The pipeline bridge's allow-list holds
// its names to the same rule, so that every allowed name can be triggered.
func ValidPipelineName(s string) bool {
	if len(s) == 0 || len(s) > MaxPipelineNameLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c != '-' && (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// ValidParameterKey reports whether s can be a pipeline parameter key:
// [A-Za-z_][A-Za-z0-9_-]*, at most MaxParameterKeyLen characters, which Argo and KFP both take
// as a parameter name.
func ValidParameterKey(s string) bool {
	if len(s) == 0 || len(s) > MaxParameterKeyLen {
		return false
	}
	if c := s[0]; c != '_' && !isLetter(c) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if !isTokenByte(s[i]) {
			return false
		}
	}
	return true
}

// inRange is false for NaN, which compares false with everything.
func inRange(v, lo, hi float64) bool { return v >= lo && v <= hi }

func isTokenByte(c byte) bool { return c == '_' || c == '-' || isAlnum(c) }
func isAlnum(c byte) bool     { return isLetter(c) || (c >= '0' && c <= '9') }
func isLetter(c byte) bool    { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') }

// truncate keeps an echoed value short; the value may be anything the producer sent.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

func invalid(field, format string, args ...any) error {
	return &ValidationError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// missing reports a nil message; prefix names where it sits, ending in a dot, or is empty for
// the top-level message.
func missing(prefix string) error {
	if prefix == "" {
		return &ValidationError{Field: "message", Reason: "is nil"}
	}
	return invalid(strings.TrimSuffix(prefix, "."), "is required")
}
