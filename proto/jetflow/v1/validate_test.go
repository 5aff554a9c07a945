package jetflowv1

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

type validatable interface {
	proto.Message
	Validate() error
}

// rule edits a valid message; field names the field the error must name, or is empty when the
// edited message must still be valid (a boundary that is allowed).
type rule[M validatable] struct {
	name  string
	edit  func(M)
	field string
}

func checkRules[M validatable](t *testing.T, valid func() M, rules []rule[M]) {
	t.Helper()
	t.Run("valid", func(t *testing.T) {
		if err := valid().Validate(); err != nil {
			t.Fatalf("Validate() of a valid message = %v", err)
		}
	})
	for _, r := range rules {
		t.Run(r.name, func(t *testing.T) {
			m := valid()
			r.edit(m)
			err := m.Validate()
			if r.field == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want an error naming %s", r.field)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("Validate() = %v, does not match ErrInvalid", err)
			}
			var ve *ValidationError
			if !errors.As(err, &ve) || ve.Field != r.field {
				t.Errorf("Validate() = %v, want a *ValidationError for field %q", err, r.field)
			}
			if !strings.Contains(err.Error(), r.field+":") {
				t.Errorf("Validate() = %q, does not name field %q", err, r.field)
			}
		})
	}
}

// set returns an edit that sets the named field through reflection, so the common-field rules
// are written once for every message.
func set[M validatable](name string, v protoreflect.Value) func(M) {
	return func(m M) {
		r := m.ProtoReflect()
		fd := r.Descriptor().Fields().ByName(protoreflect.Name(name))
		if fd == nil {
			panic("no field " + name + " in " + string(r.Descriptor().FullName()))
		}
		r.Set(fd, v)
	}
}

func str(s string) protoreflect.Value { return protoreflect.ValueOfString(s) }

// commonRules are the failing cases of the four fields every inbound message starts with.
func commonRules[M validatable](sessionRequired bool) []rule[M] {
	rules := []rule[M]{
		{"request_id missing", set[M]("request_id", str("")), "request_id"},
		{"request_id with a dot", set[M]("request_id", str("a.b")), "request_id"},
		{"request_id with a wildcard", set[M]("request_id", str("a*")), "request_id"},
		{"request_id with a space", set[M]("request_id", str("a b")), "request_id"},
		{"request_id too long", set[M]("request_id", str(strings.Repeat("a", MaxIDLen+1))), "request_id"},
		{"session_id with a dot", set[M]("session_id", str("s.1")), "session_id"},
		{"session_id with a greater-than", set[M]("session_id", str("s>")), "session_id"},
		{"session_id too long", set[M]("session_id", str(strings.Repeat("s", MaxIDLen+1))), "session_id"},
		{"user_id too long", set[M]("user_id", str(strings.Repeat("é", MaxIDLen+1))), "user_id"},
		{"user_id with a control character", set[M]("user_id", str("bob\n")), "user_id"},
		{"deadline out of range", set[M]("deadline", protoreflect.ValueOfMessage((&timestamppb.Timestamp{Seconds: math.MaxInt64}).ProtoReflect())), "deadline"},
		{"deadline nanos out of range", set[M]("deadline", protoreflect.ValueOfMessage((&timestamppb.Timestamp{Seconds: 1, Nanos: 1e9}).ProtoReflect())), "deadline"},
	}
	if sessionRequired {
		rules = append(rules, rule[M]{"session_id missing", set[M]("session_id", str("")), "session_id"})
	}
	return rules
}

var testDeadline = timestamppb.New(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))

func validChatRequest() *ChatRequest {
	return &ChatRequest{
		RequestId: "req-1_A",
		SessionId: "sess-1",
		Deadline:  testDeadline,
		UserId:    "alice@example.com",
		Query:     "What is JetStream?",
		History: []*ChatMessage{
			{Role: RoleSystem, Content: "Be brief."},
			{Role: RoleUser, Content: "Hi"},
			{Role: RoleAssistant, Content: ""},
		},
		TopK:         5,
		Collection:   "docs_v2",
		SystemPrompt: "You answer from the sources.",
		ModelOptions: &ModelOptions{
			Model:       "qwen2.5-7b-instruct",
			Temperature: proto.Float32(0.7),
			MaxTokens:   proto.Int32(512),
			TopP:        proto.Float32(0.9),
		},
		StreamTokens: true,
	}
}

func chatRules(prefix string) []rule[*ChatRequest] {
	return []rule[*ChatRequest]{
		{"query missing", func(m *ChatRequest) { m.Query = "" }, prefix + "query"},
		{"query only white space", func(m *ChatRequest) { m.Query = " \n\t" }, prefix + "query"},
		{"query at the limit", func(m *ChatRequest) { m.Query = strings.Repeat("q", MaxQueryBytes) }, ""},
		{"query too long", func(m *ChatRequest) { m.Query = strings.Repeat("q", MaxQueryBytes+1) }, prefix + "query"},
		{"history at the limit", func(m *ChatRequest) { m.History = history(MaxHistory) }, ""},
		{"history too long", func(m *ChatRequest) { m.History = history(MaxHistory + 1) }, prefix + "history"},
		{"history role unknown", func(m *ChatRequest) { m.History[1].Role = "tool" }, prefix + "history[1].role"},
		{"history role empty", func(m *ChatRequest) { m.History[0].Role = "" }, prefix + "history[0].role"},
		{"history role in capitals", func(m *ChatRequest) { m.History[2].Role = "User" }, prefix + "history[2].role"},
		{"history content too long", func(m *ChatRequest) { m.History[2].Content = strings.Repeat("c", MaxMessageBytes+1) }, prefix + "history[2].content"},
		{"history entry nil", func(m *ChatRequest) { m.History[1] = nil }, prefix + "history[1]"},
		{"top_k zero means default", func(m *ChatRequest) { m.TopK = 0 }, ""},
		{"top_k at the limit", func(m *ChatRequest) { m.TopK = MaxTopK }, ""},
		{"top_k negative", func(m *ChatRequest) { m.TopK = -1 }, prefix + "top_k"},
		{"top_k too large", func(m *ChatRequest) { m.TopK = MaxTopK + 1 }, prefix + "top_k"},
		{"collection may be empty", func(m *ChatRequest) { m.Collection = "" }, ""},
		{"collection at the limit", func(m *ChatRequest) { m.Collection = strings.Repeat("c", MaxCollectionLen) }, ""},
		{"collection too long", func(m *ChatRequest) { m.Collection = strings.Repeat("c", MaxCollectionLen+1) }, prefix + "collection"},
		{"collection with a hyphen", func(m *ChatRequest) { m.Collection = "my-docs" }, prefix + "collection"},
		{"collection with a dot", func(m *ChatRequest) { m.Collection = "a.b" }, prefix + "collection"},
		{"system_prompt too long", func(m *ChatRequest) { m.SystemPrompt = strings.Repeat("s", MaxSystemPromptBytes+1) }, prefix + "system_prompt"},
		{"model_options may be unset", func(m *ChatRequest) { m.ModelOptions = nil }, ""},
		{"model options may be unset one by one", func(m *ChatRequest) { m.ModelOptions = &ModelOptions{} }, ""},
		{"model too long", func(m *ChatRequest) { m.ModelOptions.Model = strings.Repeat("m", MaxModelNameLen+1) }, prefix + "model_options.model"},
		{"model with a newline", func(m *ChatRequest) { m.ModelOptions.Model = "a\nb" }, prefix + "model_options.model"},
		{"temperature zero", func(m *ChatRequest) { m.ModelOptions.Temperature = proto.Float32(0) }, ""},
		{"temperature at the limit", func(m *ChatRequest) { m.ModelOptions.Temperature = proto.Float32(MaxTemperature) }, ""},
		{"temperature negative", func(m *ChatRequest) { m.ModelOptions.Temperature = proto.Float32(-0.1) }, prefix + "model_options.temperature"},
		{"temperature too high", func(m *ChatRequest) { m.ModelOptions.Temperature = proto.Float32(2.01) }, prefix + "model_options.temperature"},
		{"temperature NaN", func(m *ChatRequest) { m.ModelOptions.Temperature = proto.Float32(float32(math.NaN())) }, prefix + "model_options.temperature"},
		{"max_tokens zero means default", func(m *ChatRequest) { m.ModelOptions.MaxTokens = proto.Int32(0) }, ""},
		{"max_tokens at the limit", func(m *ChatRequest) { m.ModelOptions.MaxTokens = proto.Int32(MaxMaxTokens) }, ""},
		{"max_tokens negative", func(m *ChatRequest) { m.ModelOptions.MaxTokens = proto.Int32(-1) }, prefix + "model_options.max_tokens"},
		{"max_tokens too many", func(m *ChatRequest) { m.ModelOptions.MaxTokens = proto.Int32(MaxMaxTokens + 1) }, prefix + "model_options.max_tokens"},
		{"top_p at the limit", func(m *ChatRequest) { m.ModelOptions.TopP = proto.Float32(MaxTopP) }, ""},
		{"top_p negative", func(m *ChatRequest) { m.ModelOptions.TopP = proto.Float32(-0.5) }, prefix + "model_options.top_p"},
		{"top_p above one", func(m *ChatRequest) { m.ModelOptions.TopP = proto.Float32(1.5) }, prefix + "model_options.top_p"},
		{"top_p infinite", func(m *ChatRequest) { m.ModelOptions.TopP = proto.Float32(float32(math.Inf(1))) }, prefix + "model_options.top_p"},
	}
}

func history(n int) []*ChatMessage {
	h := make([]*ChatMessage, n)
	for i := range h {
		h[i] = &ChatMessage{Role: RoleUser, Content: "turn"}
	}
	return h
}

func TestChatRequestValidate(t *testing.T) {
	t.Parallel()
	rules := []rule[*ChatRequest]{
		{"session_id may be empty", func(m *ChatRequest) { m.SessionId = "" }, ""},
		{"user_id may be empty", func(m *ChatRequest) { m.UserId = "" }, ""},
		{"user_id at the limit in runes", func(m *ChatRequest) { m.UserId = strings.Repeat("é", MaxIDLen) }, ""},
		{"request_id at the limit", func(m *ChatRequest) { m.RequestId = strings.Repeat("a", MaxIDLen) }, ""},
		{"deadline may be unset", func(m *ChatRequest) { m.Deadline = nil }, ""},
	}
	rules = append(rules, commonRules[*ChatRequest](false)...)
	checkRules(t, validChatRequest, append(rules, chatRules("")...))
}

func validChatGenerateTask() *ChatGenerateTask {
	r := validChatRequest()
	return &ChatGenerateTask{
		RequestId: r.GetRequestId(),
		SessionId: r.GetSessionId(),
		Deadline:  r.GetDeadline(),
		UserId:    r.GetUserId(),
		Request:   r,
		Sources:   []*Source{{Id: "1", Text: "JetStream is ...", Score: 0.9, Collection: "docs_v2"}},
		Timings:   []*StageTiming{{Stage: "embed", Duration: durationpb.New(12 * time.Millisecond)}},
	}
}

func TestChatGenerateTaskValidate(t *testing.T) {
	t.Parallel()
	rules := []rule[*ChatGenerateTask]{
		{"request missing", func(m *ChatGenerateTask) { m.Request = nil }, "request"},
		{"request_id differs from the request's", func(m *ChatGenerateTask) { m.RequestId = "other" }, "request_id"},
		{"session_id differs from the request's", func(m *ChatGenerateTask) { m.SessionId = "" }, "session_id"},
		{"user_id differs from the request's", func(m *ChatGenerateTask) { m.UserId = "mallory" }, "user_id"},
		{"deadline differs from the request's", func(m *ChatGenerateTask) { m.Deadline = timestamppb.New(time.Unix(1, 0)) }, "deadline"},
		{"deadline missing while the request has one", func(m *ChatGenerateTask) { m.Deadline = nil }, "deadline"},
		{"sources may be empty", func(m *ChatGenerateTask) { m.Sources = nil }, ""},
		{"sources at the limit", func(m *ChatGenerateTask) { m.Sources = make([]*Source, MaxSources) }, ""},
		{"sources too many", func(m *ChatGenerateTask) { m.Sources = make([]*Source, MaxSources+1) }, "sources"},
		{"timings too many", func(m *ChatGenerateTask) { m.Timings = make([]*StageTiming, MaxTimings+1) }, "timings"},
	}
	rules = append(rules, commonRules[*ChatGenerateTask](false)...)
	// Every rule of the carried request applies, named under request.
	for _, r := range chatRules("request.") {
		rules = append(rules, rule[*ChatGenerateTask]{
			name:  "request " + r.name,
			edit:  func(m *ChatGenerateTask) { r.edit(m.Request) },
			field: r.field,
		})
	}
	checkRules(t, validChatGenerateTask, rules)
}

func validVoiceRequest() *VoiceRequest {
	return &VoiceRequest{
		RequestId:  "voice-1",
		SessionId:  "sess-1",
		Deadline:   testDeadline,
		UserId:     "alice",
		Audio:      []byte("RIFF....WAVEfmt "),
		Format:     &AudioFormat{Encoding: AudioFormat_ENCODING_WAV},
		Language:   "en-US",
		Voice:      "af_heart",
		Collection: "docs",
		TurnId:     "turn-1",
	}
}

// formatRules check an AudioFormat reached through get; input formats need a rate for PCM16.
func formatRules[M validatable](prefix string, get func(M) *AudioFormat, set func(M, *AudioFormat), input bool) []rule[M] {
	rules := []rule[M]{
		{"format may be unset", func(m M) { set(m, nil) }, ""},
		{"encoding unknown", func(m M) { get(m).Encoding = 99 }, prefix + "encoding"},
		{"sample_rate too low", func(m M) { get(m).SampleRate = MinSampleRate - 1 }, prefix + "sample_rate"},
		{"sample_rate too high", func(m M) { get(m).SampleRate = MaxSampleRate + 1 }, prefix + "sample_rate"},
		{"sample_rate negative", func(m M) { get(m).SampleRate = -16000 }, prefix + "sample_rate"},
		{"sample_rate at the lower limit", func(m M) { get(m).SampleRate = MinSampleRate }, ""},
		{"sample_rate at the upper limit", func(m M) { get(m).SampleRate = MaxSampleRate }, ""},
		{"channels stereo", func(m M) { get(m).Channels = MaxChannels }, ""},
		{"channels too many", func(m M) { get(m).Channels = MaxChannels + 1 }, prefix + "channels"},
		{"channels negative", func(m M) { get(m).Channels = -1 }, prefix + "channels"},
		{"pcm16 with a rate", func(m M) { set(m, &AudioFormat{Encoding: AudioFormat_ENCODING_PCM16, SampleRate: 16000}) }, ""},
	}
	if input {
		rules = append(rules, rule[M]{"pcm16 without a rate", func(m M) { set(m, &AudioFormat{Encoding: AudioFormat_ENCODING_PCM16}) }, prefix + "sample_rate"})
	} else {
		rules = append(rules, rule[M]{"pcm16 output at the default rate", func(m M) { set(m, &AudioFormat{Encoding: AudioFormat_ENCODING_PCM16}) }, ""})
	}
	return rules
}

// textFieldRules check the language, voice and collection fields shared by the voice messages.
func textFieldRules[M validatable]() []rule[M] {
	return []rule[M]{
		{"language may be empty", set[M]("language", str("")), ""},
		{"language with an underscore", set[M]("language", str("en_US")), "language"},
		{"language too long", set[M]("language", str(strings.Repeat("a", MaxLanguageLen+1))), "language"},
		{"voice may be empty", set[M]("voice", str("")), ""},
		{"voice too long", set[M]("voice", str(strings.Repeat("v", MaxVoiceLen+1))), "voice"},
		{"voice with a control character", set[M]("voice", str("a\x00b")), "voice"},
		{"collection with a space", set[M]("collection", str("my docs")), "collection"},
	}
}

func TestVoiceRequestValidate(t *testing.T) {
	t.Parallel()
	rules := []rule[*VoiceRequest]{
		{"audio missing", func(m *VoiceRequest) { m.Audio = nil }, "audio"},
		{"audio at the limit", func(m *VoiceRequest) { m.Audio = make([]byte, MaxAudioBytes) }, ""},
		{"audio too large", func(m *VoiceRequest) { m.Audio = make([]byte, MaxAudioBytes+1) }, "audio"},
		{"turn_id may be empty", func(m *VoiceRequest) { m.TurnId = "" }, ""},
		{"turn_id with a dot", func(m *VoiceRequest) { m.TurnId = "t.1" }, "turn_id"},
		{"session_id may be empty", func(m *VoiceRequest) { m.SessionId = "" }, ""},
	}
	rules = append(rules, commonRules[*VoiceRequest](false)...)
	rules = append(rules, textFieldRules[*VoiceRequest]()...)
	rules = append(rules, formatRules("format.",
		func(m *VoiceRequest) *AudioFormat { return m.Format },
		func(m *VoiceRequest, f *AudioFormat) { m.Format = f }, true)...)
	checkRules(t, validVoiceRequest, rules)
}

func validVoiceTurn() *VoiceTurn {
	return &VoiceTurn{
		RequestId:   "voice-1",
		SessionId:   "sess-1",
		Deadline:    testDeadline,
		UserId:      "alice",
		TurnId:      "turn-1",
		Transcript:  "what is jetstream",
		Answer:      "A persistence layer for NATS.",
		Sources:     []*Source{{Id: "7", Text: "JetStream ..."}},
		Timings:     []*StageTiming{{Stage: "transcribe", Duration: durationpb.New(time.Second)}},
		Voice:       "af_heart",
		Language:    "en",
		InputFormat: &AudioFormat{Encoding: AudioFormat_ENCODING_PCM16, SampleRate: 16000, Channels: 1},
		Collection:  "docs",
	}
}

func TestVoiceTurnValidate(t *testing.T) {
	t.Parallel()
	rules := []rule[*VoiceTurn]{
		{"turn_id missing", func(m *VoiceTurn) { m.TurnId = "" }, "turn_id"},
		{"turn_id with a space", func(m *VoiceTurn) { m.TurnId = "turn 1" }, "turn_id"},
		{"audio before transcription", func(m *VoiceTurn) { m.Transcript, m.Answer, m.Audio = "", "", []byte{1, 2} }, ""},
		{"neither audio nor transcript", func(m *VoiceTurn) { m.Transcript, m.Audio = "", nil }, "audio"},
		{"audio too large", func(m *VoiceTurn) { m.Audio = make([]byte, MaxAudioBytes+1) }, "audio"},
		{"transcript too long", func(m *VoiceTurn) { m.Transcript = strings.Repeat("t", MaxQueryBytes+1) }, "transcript"},
		{"answer too long", func(m *VoiceTurn) { m.Answer = strings.Repeat("a", MaxAnswerBytes+1) }, "answer"},
		{"sources too many", func(m *VoiceTurn) { m.Sources = make([]*Source, MaxSources+1) }, "sources"},
		{"timings too many", func(m *VoiceTurn) { m.Timings = make([]*StageTiming, MaxTimings+1) }, "timings"},
	}
	rules = append(rules, commonRules[*VoiceTurn](false)...)
	rules = append(rules, textFieldRules[*VoiceTurn]()...)
	rules = append(rules, formatRules("input_format.",
		func(m *VoiceTurn) *AudioFormat { return m.InputFormat },
		func(m *VoiceTurn, f *AudioFormat) { m.InputFormat = f }, true)...)
	checkRules(t, validVoiceTurn, rules)
}

func validSttAudioChunk() *SttAudioChunk {
	return &SttAudioChunk{
		RequestId:  "chunk-1",
		SessionId:  "mic-42",
		Deadline:   testDeadline,
		UserId:     "alice",
		Sequence:   3,
		Pcm:        make([]byte, 640),
		SampleRate: 16000,
		Language:   "de",
		SpeakerId:  "spk_1",
	}
}

func TestSttAudioChunkValidate(t *testing.T) {
	t.Parallel()
	rules := []rule[*SttAudioChunk]{
		{"sequence zero", func(m *SttAudioChunk) { m.Sequence = 0 }, ""},
		{"sequence negative", func(m *SttAudioChunk) { m.Sequence = -1 }, "sequence"},
		{"pcm missing", func(m *SttAudioChunk) { m.Pcm = nil }, "pcm"},
		{"pcm empty at end of stream", func(m *SttAudioChunk) { m.Pcm, m.EndOfStream = nil, true }, ""},
		{"pcm odd byte count", func(m *SttAudioChunk) { m.Pcm = make([]byte, 641) }, "pcm"},
		{"pcm odd byte count at end of stream", func(m *SttAudioChunk) { m.Pcm, m.EndOfStream = []byte{1}, true }, "pcm"},
		{"pcm at the limit", func(m *SttAudioChunk) { m.Pcm = make([]byte, MaxPCMBytes) }, ""},
		{"pcm too large", func(m *SttAudioChunk) { m.Pcm = make([]byte, MaxPCMBytes+2) }, "pcm"},
		{"sample_rate missing", func(m *SttAudioChunk) { m.SampleRate = 0 }, "sample_rate"},
		{"sample_rate too low", func(m *SttAudioChunk) { m.SampleRate = 7999 }, "sample_rate"},
		{"sample_rate too high", func(m *SttAudioChunk) { m.SampleRate = 96000 }, "sample_rate"},
		{"sample_rate at the upper limit", func(m *SttAudioChunk) { m.SampleRate = MaxSampleRate }, ""},
		{"sample_rate at the lower limit", func(m *SttAudioChunk) { m.SampleRate = MinSampleRate }, ""},
		{"language with a dot", func(m *SttAudioChunk) { m.Language = "en.US" }, "language"},
		{"speaker_id empty", func(m *SttAudioChunk) { m.SpeakerId = "" }, ""},
		{"speaker_id at the limit", func(m *SttAudioChunk) { m.SpeakerId = strings.Repeat("s", MaxIDLen) }, ""},
		{"speaker_id too long", func(m *SttAudioChunk) { m.SpeakerId = strings.Repeat("s", MaxIDLen+1) }, "speaker_id"},
		{"speaker_id with a space", func(m *SttAudioChunk) { m.SpeakerId = "spk 1" }, "speaker_id"},
		{"speaker_id with a dot", func(m *SttAudioChunk) { m.SpeakerId = "spk.1" }, "speaker_id"},
	}
	rules = append(rules, commonRules[*SttAudioChunk](true)...)
	checkRules(t, validSttAudioChunk, rules)
}

func validTtsRequest() *TtsRequest {
	return &TtsRequest{
		RequestId: "tts-1",
		SessionId: "sess-1",
		Deadline:  testDeadline,
		UserId:    "alice",
		Text:      "Hello there.",
		Voice:     "en_US-lessac-medium",
		Format:    &AudioFormat{Encoding: AudioFormat_ENCODING_MP3, SampleRate: 24000},
		Speed:     1.25,
	}
}

func TestTtsRequestValidate(t *testing.T) {
	t.Parallel()
	rules := []rule[*TtsRequest]{
		{"text missing", func(m *TtsRequest) { m.Text = "" }, "text"},
		{"text only white space", func(m *TtsRequest) { m.Text = "   " }, "text"},
		{"text at the limit", func(m *TtsRequest) { m.Text = strings.Repeat("t", MaxTtsTextBytes) }, ""},
		{"text too long", func(m *TtsRequest) { m.Text = strings.Repeat("t", MaxTtsTextBytes+1) }, "text"},
		{"voice too long", func(m *TtsRequest) { m.Voice = strings.Repeat("v", MaxVoiceLen+1) }, "voice"},
		{"speed zero means normal", func(m *TtsRequest) { m.Speed = 0 }, ""},
		{"speed at the lower limit", func(m *TtsRequest) { m.Speed = MinSpeed }, ""},
		{"speed at the upper limit", func(m *TtsRequest) { m.Speed = MaxSpeed }, ""},
		{"speed too slow", func(m *TtsRequest) { m.Speed = 0.2 }, "speed"},
		{"speed too fast", func(m *TtsRequest) { m.Speed = 4.5 }, "speed"},
		{"speed negative", func(m *TtsRequest) { m.Speed = -1 }, "speed"},
		{"speed NaN", func(m *TtsRequest) { m.Speed = float32(math.NaN()) }, "speed"},
		{"session_id may be empty", func(m *TtsRequest) { m.SessionId = "" }, ""},
	}
	rules = append(rules, commonRules[*TtsRequest](false)...)
	rules = append(rules, formatRules("format.",
		func(m *TtsRequest) *AudioFormat { return m.Format },
		func(m *TtsRequest, f *AudioFormat) { m.Format = f }, false)...)
	checkRules(t, validTtsRequest, rules)
}

func validPipelineTrigger() *PipelineTrigger {
	return &PipelineTrigger{
		RequestId:  "run-1",
		SessionId:  "job-9",
		Deadline:   testDeadline,
		UserId:     "ops",
		Pipeline:   "reindex-docs-2",
		Parameters: map[string]string{"collection": "docs", "_batch-size": "64", "Dry_run": ""},
	}
}

func TestPipelineTriggerValidate(t *testing.T) {
	t.Parallel()
	rules := []rule[*PipelineTrigger]{
		{"pipeline missing", func(m *PipelineTrigger) { m.Pipeline = "" }, "pipeline"},
		{"pipeline at the limit", func(m *PipelineTrigger) { m.Pipeline = strings.Repeat("p", MaxPipelineNameLen) }, ""},
		{"pipeline too long", func(m *PipelineTrigger) { m.Pipeline = strings.Repeat("p", MaxPipelineNameLen+1) }, "pipeline"},
		{"pipeline in capitals", func(m *PipelineTrigger) { m.Pipeline = "Reindex" }, "pipeline"},
		{"pipeline with an underscore", func(m *PipelineTrigger) { m.Pipeline = "re_index" }, "pipeline"},
		{"pipeline with a slash", func(m *PipelineTrigger) { m.Pipeline = "../etc" }, "pipeline"},
		{"parameters may be empty", func(m *PipelineTrigger) { m.Parameters = nil }, ""},
		{"parameters at the limit", func(m *PipelineTrigger) { m.Parameters = params(MaxParameters) }, ""},
		{"parameters too many", func(m *PipelineTrigger) { m.Parameters = params(MaxParameters + 1) }, "parameters"},
		{"parameter key empty", func(m *PipelineTrigger) { m.Parameters[""] = "x" }, "parameters"},
		{"parameter key starting with a digit", func(m *PipelineTrigger) { m.Parameters["1st"] = "x" }, "parameters"},
		{"parameter key starting with a hyphen", func(m *PipelineTrigger) { m.Parameters["-x"] = "x" }, "parameters"},
		{"parameter key with a dot", func(m *PipelineTrigger) { m.Parameters["a.b"] = "x" }, "parameters"},
		{"parameter key with a dollar", func(m *PipelineTrigger) { m.Parameters["a$b"] = "x" }, "parameters"},
		{"parameter key at the limit", func(m *PipelineTrigger) { m.Parameters["k"+strings.Repeat("_", MaxParameterKeyLen-1)] = "x" }, ""},
		{"parameter key too long", func(m *PipelineTrigger) { m.Parameters["k"+strings.Repeat("_", MaxParameterKeyLen)] = "x" }, "parameters"},
		{"parameter value at the limit", func(m *PipelineTrigger) { m.Parameters["big"] = strings.Repeat("v", MaxParameterValueBytes) }, ""},
		{"parameter value too long", func(m *PipelineTrigger) { m.Parameters["big"] = strings.Repeat("v", MaxParameterValueBytes+1) }, "parameters[big]"},
	}
	rules = append(rules, commonRules[*PipelineTrigger](false)...)
	checkRules(t, validPipelineTrigger, rules)
}

func params(n int) map[string]string {
	p := make(map[string]string, n)
	for i := range n {
		p["p"+strings.Repeat("x", i)] = "v"
	}
	return p
}

func TestWrapperValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		msg   validatable
		field string
	}{
		{"chat stream valid", &ChatStreamRequest{Request: validChatRequest()}, ""},
		{"chat stream empty", &ChatStreamRequest{}, "request"},
		{"chat stream bad request", &ChatStreamRequest{Request: &ChatRequest{RequestId: "r"}}, "request.query"},
		{"ask valid", &AskRequest{Request: validVoiceRequest()}, ""},
		{"ask empty", &AskRequest{}, "request"},
		{"ask bad request", &AskRequest{Request: &VoiceRequest{RequestId: "r"}}, "request.audio"},
		{"synthesize valid", &SynthesizeRequest{Request: validTtsRequest()}, ""},
		{"synthesize empty", &SynthesizeRequest{}, "request"},
		{"synthesize bad request", &SynthesizeRequest{Request: &TtsRequest{Text: "hi"}}, "request.request_id"},
		{"transcribe valid", &TranscribeRequest{Chunk: validSttAudioChunk()}, ""},
		{"transcribe empty", &TranscribeRequest{}, "chunk"},
		{"transcribe bad chunk", &TranscribeRequest{Chunk: &SttAudioChunk{RequestId: "r"}}, "chunk.session_id"},
		{"trigger valid", &TriggerRequest{Trigger: validPipelineTrigger()}, ""},
		{"trigger empty", &TriggerRequest{}, "trigger"},
		{"trigger bad trigger", &TriggerRequest{Trigger: &PipelineTrigger{RequestId: "r", Pipeline: "X"}}, "trigger.pipeline"},
		{"list dead letters all", &ListDeadLettersRequest{}, ""},
		{"list dead letters of a stage", &ListDeadLettersRequest{Stage: "chat-generate", Limit: MaxDeadLetterPage}, ""},
		{"list dead letters stage with a wildcard", &ListDeadLettersRequest{Stage: "*"}, "stage"},
		{"list dead letters limit too large", &ListDeadLettersRequest{Limit: MaxDeadLetterPage + 1}, "limit"},
		{"list dead letters limit negative", &ListDeadLettersRequest{Limit: -1}, "limit"},
		{"replay valid", &ReplayDeadLettersRequest{Sequences: []uint64{1, 7}}, ""},
		{"replay nothing", &ReplayDeadLettersRequest{}, "sequences"},
		{"replay too many", &ReplayDeadLettersRequest{Sequences: make([]uint64, MaxDeadLetterPage+1)}, "sequences"},
		{"replay sequence zero", &ReplayDeadLettersRequest{Sequences: []uint64{3, 0}}, "sequences[1]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.msg.Validate()
			if tt.field == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			var ve *ValidationError
			if !errors.Is(err, ErrInvalid) || !errors.As(err, &ve) || ve.Field != tt.field || !strings.Contains(err.Error(), tt.field+":") {
				t.Fatalf("Validate() = %v, want a *ValidationError naming %s", err, tt.field)
			}
		})
	}
}

// A nil message fails the same way as a broken one instead of panicking in the runtime.
func TestValidateNil(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		msg  validatable
	}{
		{"ChatRequest", (*ChatRequest)(nil)},
		{"ChatGenerateTask", (*ChatGenerateTask)(nil)},
		{"VoiceRequest", (*VoiceRequest)(nil)},
		{"VoiceTurn", (*VoiceTurn)(nil)},
		{"SttAudioChunk", (*SttAudioChunk)(nil)},
		{"TtsRequest", (*TtsRequest)(nil)},
		{"PipelineTrigger", (*PipelineTrigger)(nil)},
		{"ChatStreamRequest", (*ChatStreamRequest)(nil)},
		{"ReplayDeadLettersRequest", (*ReplayDeadLettersRequest)(nil)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var ve *ValidationError
			if err := tt.msg.Validate(); !errors.Is(err, ErrInvalid) || !errors.As(err, &ve) || ve.Field == "" {
				t.Fatalf("Validate() of nil = %v, want a *ValidationError naming a field", err)
			}
		})
	}
}

func TestValidSubjectToken(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want bool
	}{
		{"letters digits underscore hyphen", "Req_01-ab", true},
		{"one character", "a", true},
		{"at the limit", strings.Repeat("z", MaxIDLen), true},
		{"a uuid", "0b6f2c1e-8c1f-4f55-9d8e-3a4a5b6c7d8e", true},
		{"empty", "", false},
		{"too long", strings.Repeat("z", MaxIDLen+1), false},
		{"dot splits tokens", "a.b", false},
		{"star wildcard", "*", false},
		{"greater-than wildcard", ">", false},
		{"space", "a b", false},
		{"tab", "a\tb", false},
		{"dollar", "$JS", false},
		{"slash", "a/b", false},
		{"non-ASCII letter", "é", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := ValidSubjectToken(tt.in); got != tt.want {
				t.Fatalf("ValidSubjectToken(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func TestValidPipelineName(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want bool
	}{
		{"lower letters digits hyphen", "train-model-2", true},
		{"one character", "a", true},
		{"at the limit", strings.Repeat("p", MaxPipelineNameLen), true},
		{"empty", "", false},
		{"too long", strings.Repeat("p", MaxPipelineNameLen+1), false},
		{"upper case", "Train", false},
		{"underscore", "train_model", false},
		{"dot", "train.model", false},
		{"space", "train model", false},
		{"non-ASCII letter", "é", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := ValidPipelineName(tt.in); got != tt.want {
				t.Fatalf("ValidPipelineName(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func TestValidParameterKey(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want bool
	}{
		{"letters digits underscore hyphen", "learning_rate-2", true},
		{"leading underscore", "_seed", true},
		{"upper case", "Epochs", true},
		{"one character", "x", true},
		{"at the limit", strings.Repeat("k", MaxParameterKeyLen), true},
		{"empty", "", false},
		{"too long", strings.Repeat("k", MaxParameterKeyLen+1), false},
		{"leading digit", "1rate", false},
		{"leading hyphen", "-rate", false},
		{"dot", "a.b", false},
		{"space", "a b", false},
		{"non-ASCII letter", "é", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := ValidParameterKey(tt.in); got != tt.want {
				t.Fatalf("ValidParameterKey(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}
