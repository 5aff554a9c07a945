package voice

import (
	"context"
	"fmt"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/jetflow-dev/jetflow/internal/breaker"
	"github.com/jetflow-dev/jetflow/internal/failure"
	"github.com/jetflow-dev/jetflow/internal/session"
	"github.com/jetflow-dev/jetflow/internal/stage"
	"github.com/jetflow-dev/jetflow/internal/upstream/transcribe"
	jetflowv1 "github.com/jetflow-dev/jetflow/proto/jetflow/v1"
	"github.com/jetflow-dev/jetflow/streams"
)

// Transcribe is voice-transcribe: it starts the turn in the session (the barge-in), transcribes
// the audio and hands the transcript, without the audio, to voice-answer. An empty transcript
// ends the turn with a VoiceResponse that says nothing was heard.
func (w *Worker) Transcribe(ctx context.Context, req *jetflowv1.VoiceRequest, in *stage.Input) ([]stage.Output, error) {
	ref := turnRef{session: req.GetSessionId(), turn: turnID(req.GetTurnId(), req.GetRequestId()), request: req.GetRequestId()}
	// Bad audio is refused before the turn starts: a broken request must not interrupt the
	// conversation.
	audio, err := decodeAudio(req.GetAudio(), req.GetFormat())
	if err != nil {
		return nil, err
	}
	var first session.Entry[sessionState]
	if ref.session != "" {
		s, err := w.sessionStore.Get(ctx)
		if err != nil {
			return nil, err
		}
		// The sequence the request was first published at: a copy the runtime requeued (an open
		// breaker) is published again later, and must not pass for newer than the turns after it.
		e, older, err := s.startTurn(ctx, ref.session, ref.turn, ref.request, in.OriginalSequence, time.Now())
		if err != nil {
			return nil, err
		}
		if older {
			w.drop(StageTranscribe, ref)
			return nil, nil
		}
		// This process's handlers of the old turn stop now, without waiting for the watch.
		w.turns.Observe(ref.session, ref.turn, e.Revision)
		first = e
	}
	return w.inTurn(ctx, StageTranscribe, ref, &first, func(ctx context.Context, _ *sessionState) ([]stage.Output, error) {
		return w.transcribe(ctx, req, ref, audio)
	})
}

func (w *Worker) transcribe(ctx context.Context, req *jetflowv1.VoiceRequest, ref turnRef, audio pcmAudio) ([]stage.Output, error) {
	start := time.Now()
	res, err := breaker.Do(ctx, w.breakers.Transcribe.Get(breaker.STT), func(ctx context.Context) (transcribe.Result, error) {
		return w.clients.STT.Transcribe(ctx, transcribe.Request{
			PCM: audio.data, SampleRate: audio.sampleRate, Language: transcribe.LanguageCode(req.GetLanguage()),
		})
	})
	if err != nil {
		return nil, fmt.Errorf("transcribing the question: %w", err)
	}
	timings := []*jetflowv1.StageTiming{timing("transcribe", time.Since(start))}
	text := strings.TrimSpace(res.Text)
	if len(text) > jetflowv1.MaxQueryBytes {
		return nil, failure.Invalidf("the transcript has %d bytes, more than %d", len(text), jetflowv1.MaxQueryBytes)
	}
	if ok, err := w.stillCurrent(ctx, ref); err != nil || !ok {
		return nil, orSuperseded(err)
	}
	if text == "" {
		return []stage.Output{{
			Subject: streams.ResultSubject(streams.ResultKindVoice, req.GetRequestId()),
			Key:     "response",
			Msg: &jetflowv1.VoiceResponse{
				RequestId: req.GetRequestId(), SessionId: req.GetSessionId(), TurnId: ref.turn, Timings: timings,
			},
		}}, nil
	}
	return []stage.Output{{Subject: streams.SubjectVoiceAnswer, Msg: &jetflowv1.VoiceTurn{
		RequestId: req.GetRequestId(), SessionId: req.GetSessionId(), Deadline: req.GetDeadline(), UserId: req.GetUserId(),
		TurnId: ref.turn, Transcript: text, Timings: timings,
		Voice: req.GetVoice(), Language: req.GetLanguage(), InputFormat: req.GetFormat(),
		Collection: req.GetCollection(), DisableRag: req.GetDisableRag(),
	}}}, nil
}

// orSuperseded is err, or ErrSuperseded when a check found the turn superseded without error.
func orSuperseded(err error) error {
	if err != nil {
		return err
	}
	return ErrSuperseded
}

func timing(name string, d time.Duration) *jetflowv1.StageTiming {
	return &jetflowv1.StageTiming{Stage: name, Duration: durationpb.New(d)}
}
