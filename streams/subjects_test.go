package streams

import (
	"strings"
	"testing"
)

func TestSubjectFunctions(t *testing.T) {
	tests := []struct {
		name string
		got  string
		want string
	}{
		{"stt audio", STTAudioSubject("s1"), "ai.stt.audio.s1"},
		{"chat result", ResultSubject(ResultKindChat, "r1"), "ai.result.chat.r1"},
		{"voice result", ResultSubject(ResultKindVoice, "r1"), "ai.result.voice.r1"},
		{"stt result", ResultSubject(ResultKindSTT, "r1"), "ai.result.stt.r1"},
		{"tts result", ResultSubject(ResultKindTTS, "r1"), "ai.result.tts.r1"},
		{"pipeline result", ResultSubject(ResultKindPipeline, "r1"), "ai.result.pipeline.r1"},
		{"dead letter", DeadLetterSubject(ConsumerChatGenerate), "ai.dlq.chat-generate"},
		{"token stream", TokenStreamSubject("r1"), "ai.stream.r1"},
		{"advisory", AdvisoryMaxDeliveriesSubject(StreamChat, ConsumerChatRetrieve),
			"$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.AI_CHAT.chat-retrieve"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %q, want %q", tt.got, tt.want)
			}
		})
	}
}

// TestBuiltSubjectsLandInTheirStreams checks that what the functions build is captured by the
// stream meant for it, and that live tokens are captured by none.
func TestBuiltSubjectsLandInTheirStreams(t *testing.T) {
	set := mustLoad(t)
	tests := []struct {
		name    string
		subject string
		stream  string // "" means no stream may capture it
	}{
		{"chat request", SubjectChatRequest, StreamChat},
		{"chat generate", SubjectChatGenerate, StreamChat},
		{"voice request", SubjectVoiceRequest, StreamVoice},
		{"voice answer", SubjectVoiceAnswer, StreamVoice},
		{"voice synthesize", SubjectVoiceSynthesize, StreamVoice},
		{"tts request", SubjectTTSRequest, StreamTTS},
		{"pipeline trigger", SubjectPipelineTrigger, StreamPipeline},
		{"stt audio", STTAudioSubject("sess-1"), StreamSTT},
		{"result", ResultSubject(ResultKindTTS, "r-1"), StreamResults},
		{"dead letter", DeadLetterSubject(ConsumerTTS), StreamDeadLetter},
		{"advisory", AdvisoryMaxDeliveriesSubject(StreamTTS, ConsumerTTS), StreamAdvisories},
		{"token stream", TokenStreamSubject("r-1"), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, s := range set.Streams() {
				if subjectCovered(tt.subject, s.Subjects) {
					got = append(got, s.Name)
				}
			}
			want := []string{tt.stream}
			if tt.stream == "" {
				want = nil
			}
			if strings.Join(got, ",") != strings.Join(want, ",") {
				t.Errorf("%s is captured by %q, want %q", tt.subject, got, want)
			}
		})
	}
}
