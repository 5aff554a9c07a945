package fault

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/jetflow-dev/jetflow/internal/devkit/fakekfp"
	"github.com/jetflow-dev/jetflow/internal/devkit/jstest"
	"github.com/jetflow-dev/jetflow/internal/devkit/standin"
	"github.com/jetflow-dev/jetflow/internal/stage"
	jetflowv1 "github.com/jetflow-dev/jetflow/proto/jetflow/v1"
	"github.com/jetflow-dev/jetflow/streams"
)

// poisonHeader keys each bad message; its dead letter keeps the header.
const poisonHeader = "Poison"

// poisonKind is one kind of bad message: how to make it from a valid message of a subject
// (nil when the subject's message has no such field), and what its dead letter's reason says.
type poisonKind struct {
	name      string
	reasonHas string
}

// The ten kinds of poison.
var poisonKinds = []poisonKind{
	{"garbage", "decoding protobuf"},
	{"empty", "empty payload"},
	{"truncated", "decoding protobuf"},
	{"wrong-type", "payload is a jetflow.v1.PipelineStatus"},
	{"oversized", "exceeds the stage limit"},
	{"missing-request-id", "request_id"},
	{"invalid-enum", "encoding"},
	{"negative-sequence", "sequence"},
	{"unknown-pipeline", "not allowed"},
	{"deadline-passed", "request deadline passed"},
}

// poisonSubject is one request subject: the stage that reads it, a valid message (good i), and
// how to spoil one field for the kinds that are about fields (nil: the message has no such
// field).
type poisonSubject struct {
	name  string
	stage string
	// subject of message i of session (only STT puts the session in the subject).
	subject func(session string) string
	good    func(id string) proto.Message
	// spoil changes a valid message into the kind's bad one; false when the kind does not apply.
	spoil func(kind string, m proto.Message) bool
	// done reports whether the results of good request id are complete.
	done func(r *rig, id string) error
}

// 6. Poison: good requests mixed with bad ones of ten kinds on every request subject. Every good
// one completes; each bad one is exactly one dead letter whose reason names the problem; no
// worker process restarts. A kind about a field is sent where the message has the field: an
// invalid enum (AudioFormat.encoding) to tts and voice, a negative sequence to stt, an unknown
// pipeline to pipeline-bridge; the seven others go to every subject (39 bad messages).
func TestPoisonIsDeadLetteredOnceWithItsReasonAndWorkersKeepServing(t *testing.T) {
	ctx := Suite(t, 4*time.Minute)
	r := newRig(t, ctx, standin.Config{}, nil)
	kfp := fakekfp.New(t)
	r.extraEnv = []string{
		"KFP_URL=" + kfp.URL,
		"PIPELINE_POLL_INTERVAL=100ms",
		`PIPELINES_JSON={"pipelines":{"nightly-eval":{"backend":"kfp","pipeline_id":"p-1","pipeline_version_id":"v-1"}}}`,
	}
	workers := map[string]*Worker{}
	for _, name := range []string{"chat-handler", "tts-module", "pipeline-bridge", "stt-module", "voice-assistant"} {
		workers[name] = r.startWorker(name)
	}
	pids := map[string]int{}
	for name, w := range workers {
		pids[name] = pid(w)
	}

	subjects := poisonSubjects()
	goodPerSubject := Scale(3, 10)
	start := time.Now()
	bad := map[string]map[string]bool{} // stage -> kinds sent
	for _, s := range subjects {
		bad[s.stage] = map[string]bool{}
		for i := range goodPerSubject {
			id := "good-" + s.name + "-" + strconv.Itoa(i)
			publishGood(r, s, id)
			// Bad ones between the good ones, every kind once per subject.
			for k := i; k < len(poisonKinds); k += goodPerSubject {
				if msg, ok := poisonMsg(s, poisonKinds[k].name); ok {
					r.publish(msg)
					bad[s.stage][poisonKinds[k].name] = true
				}
			}
		}
	}
	sent := 0
	for _, kinds := range bad {
		sent += len(kinds)
	}

	// Every good request completes.
	for _, s := range subjects {
		for i := range goodPerSubject {
			id := "good-" + s.name + "-" + strconv.Itoa(i)
			jstest.Eventually(t, 2*time.Minute, 100*time.Millisecond, func() error { return s.done(r, id) })
		}
	}
	completed := time.Since(start)
	// Every bad one is dead-lettered: wait for them all, then for the stages to hold nothing, so
	// that a second dead letter of one message would show.
	jstest.Eventually(t, time.Minute, 100*time.Millisecond, func() error {
		if n := len(r.deadLetters()); n < sent {
			return fmt.Errorf("%d of %d bad messages dead-lettered", n, sent)
		}
		return nil
	})
	r.settled(time.Minute, streams.StreamChat, streams.ConsumerChatRetrieve, streams.ConsumerChatGenerate)
	r.settled(time.Minute, streams.StreamTTS, streams.ConsumerTTS)
	r.settled(time.Minute, streams.StreamPipeline, streams.ConsumerPipelineBridge)
	r.settled(time.Minute, streams.StreamSTT, streams.ConsumerSTT)
	r.settled(time.Minute, streams.StreamVoice, streams.ConsumerVoiceTranscribe, streams.ConsumerVoiceAnswer, streams.ConsumerVoiceSynthesize)

	dead := r.deadLetters()
	seen := map[string]int{} // stage/kind -> dead letters
	for _, m := range dead {
		h := m.Headers()
		kind, stageName := h.Get(poisonHeader), h.Get(stage.HeaderStage)
		if kind == "" {
			t.Errorf("a dead letter of a good request at %s: %s", stageName, h.Get(stage.HeaderError))
			continue
		}
		seen[stageName+"/"+kind]++
		want := poisonReason(kind)
		if reason := h.Get(stage.HeaderError); !strings.Contains(reason, want) || h.Get(stage.HeaderErrorKind) != stage.KindPermanent {
			t.Errorf("%s %s: reason %q (%s), want a permanent one naming %q", stageName, kind, reason, h.Get(stage.HeaderErrorKind), want)
		}
	}
	duplicated, lost := 0, 0
	for stageName, kinds := range bad {
		for kind := range kinds {
			switch n := seen[stageName+"/"+kind]; {
			case n == 0:
				lost++
				t.Errorf("%s %s: no dead letter", stageName, kind)
			case n > 1:
				duplicated += n - 1
				t.Errorf("%s %s: %d dead letters, want 1", stageName, kind, n)
			}
		}
	}
	// No worker died or was restarted.
	for name, w := range workers {
		if !w.Running() || pid(w) != pids[name] {
			t.Errorf("%s: pid %d (was %d), running %v", name, pid(w), pids[name], w.Running())
		}
	}
	Figures{
		Scenario: "6 poison", Load: goodPerSubject*len(subjects) + sent,
		Faults: fmt.Sprintf("%d poison messages of 10 kinds on 5 request subjects", sent), Lost: lost, Duplicated: duplicated,
		DeadLettered: len(dead), Duration: time.Since(start),
		Notes: fmt.Sprintf("%d good requests all complete in %v; no worker process restarted", goodPerSubject*len(subjects), completed.Round(100*time.Millisecond)),
	}.Report(t)
}

func poisonReason(kind string) string {
	for _, k := range poisonKinds {
		if k.name == kind {
			return k.reasonHas
		}
	}
	return "(unknown kind " + kind + ")"
}

func publishGood(r *rig, s poisonSubject, id string) {
	r.t.Helper()
	if s.name == "stt" {
		for _, c := range sttSession(id, []string{"good chunks arrive"}, 8000) {
			r.publish(protoMsg(r.t, streams.STTAudioSubject(id), c, nil))
		}
		return
	}
	r.publish(protoMsg(r.t, s.subject(id), s.good(id), nil))
}

// poisonMsg builds the bad message of kind for subject s, keyed by the Poison header.
func poisonMsg(s poisonSubject, kind string) (*nats.Msg, bool) {
	id := "bad-" + s.name + "-" + kind
	h := nats.Header{poisonHeader: {kind}}
	valid := s.good(id)
	validBytes, _ := proto.Marshal(valid)
	msg := &nats.Msg{Subject: s.subject(id), Header: h}
	switch kind {
	case "garbage":
		msg.Data = []byte{0xff, 0xfe, 0xfd, 0x00, 0x01, 0x80}
	case "empty":
	case "truncated":
		// Cut inside the last field, wherever it ends: never a valid shorter message.
		msg.Data = validBytes[:len(validBytes)-1]
	case "wrong-type":
		// As jetflow's own publishers send a message: the type header names it.
		msg.Data, _ = proto.Marshal(&jetflowv1.PipelineStatus{RequestId: id, Pipeline: "nightly-eval"})
		h.Set(stage.HeaderType, "jetflow.v1.PipelineStatus")
	case "oversized":
		// Above every request stage's limit (voice 900 KiB the largest), below the server's
		// max payload.
		msg.Data, _ = proto.Marshal(wrapperspb.String(strings.Repeat("x", 950<<10)))
	default:
		if !s.spoil(kind, valid) {
			return nil, false
		}
		msg.Data, _ = proto.Marshal(valid)
	}
	return msg, true
}

// spoilCommon spoils the fields every request has: its id and its deadline.
func spoilCommon(kind string, m proto.Message) bool {
	f := m.ProtoReflect()
	switch kind {
	case "missing-request-id":
		f.Clear(f.Descriptor().Fields().ByName("request_id"))
		return true
	case "deadline-passed":
		past := timestamppb.New(time.Now().Add(-time.Minute))
		f.Set(f.Descriptor().Fields().ByName("deadline"), protoValue(past))
		return true
	}
	return false
}

func poisonSubjects() []poisonSubject {
	fixed := func(subject string) func(string) string { return func(string) string { return subject } }
	return []poisonSubject{
		{
			name: "chat", stage: streams.ConsumerChatRetrieve, subject: fixed(streams.SubjectChatRequest),
			good: func(id string) proto.Message {
				return &jetflowv1.ChatRequest{RequestId: id, Query: "What is JetStream?", DisableRag: true}
			},
			spoil: spoilCommon,
			done:  func(r *rig, id string) error { return hasResult(r, streams.ResultKindChat, id) },
		},
		{
			name: "tts", stage: streams.ConsumerTTS, subject: fixed(streams.SubjectTTSRequest),
			good: func(id string) proto.Message { return &jetflowv1.TtsRequest{RequestId: id, Text: "hello there"} },
			spoil: func(kind string, m proto.Message) bool {
				if kind == "invalid-enum" {
					m.(*jetflowv1.TtsRequest).Format = &jetflowv1.AudioFormat{Encoding: 99}
					return true
				}
				return spoilCommon(kind, m)
			},
			done: func(r *rig, id string) error { return hasLastChunk(r, streams.ResultKindTTS, id) },
		},
		{
			name: "pipeline", stage: streams.ConsumerPipelineBridge, subject: fixed(streams.SubjectPipelineTrigger),
			good: func(id string) proto.Message {
				return &jetflowv1.PipelineTrigger{RequestId: id, Pipeline: "nightly-eval"}
			},
			spoil: func(kind string, m proto.Message) bool {
				if kind == "unknown-pipeline" {
					m.(*jetflowv1.PipelineTrigger).Pipeline = "no-such-pipeline"
					return true
				}
				return spoilCommon(kind, m)
			},
			done: pipelineSucceeded,
		},
		{
			// Every bad chunk has a session of its own: the good sessions' transcripts stay whole.
			name: "stt", stage: streams.ConsumerSTT, subject: streams.STTAudioSubject,
			good: func(id string) proto.Message {
				return &jetflowv1.SttAudioChunk{RequestId: id, SessionId: id, Pcm: make([]byte, 1600), SampleRate: 8000}
			},
			spoil: func(kind string, m proto.Message) bool {
				if kind == "negative-sequence" {
					m.(*jetflowv1.SttAudioChunk).Sequence = -1
					return true
				}
				return spoilCommon(kind, m)
			},
			done: func(r *rig, id string) error { return hasTranscript(r, id, "good chunks arrive") },
		},
		{
			name: "voice", stage: streams.ConsumerVoiceTranscribe, subject: fixed(streams.SubjectVoiceRequest),
			good: func(id string) proto.Message {
				return &jetflowv1.VoiceRequest{
					RequestId: id, Audio: standin.EncodeSpeech("what is jetstream", 16000), DisableRag: true,
					Format: &jetflowv1.AudioFormat{Encoding: jetflowv1.AudioFormat_ENCODING_PCM16, SampleRate: 16000},
				}
			},
			spoil: func(kind string, m proto.Message) bool {
				if kind == "invalid-enum" {
					m.(*jetflowv1.VoiceRequest).Format.Encoding = 99
					return true
				}
				return spoilCommon(kind, m)
			},
			done: hasVoiceResponse,
		},
	}
}
