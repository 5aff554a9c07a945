package voice

import (
	"context"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/jetflow-dev/jetflow/internal/failure"
	"github.com/jetflow-dev/jetflow/internal/rag"
	"github.com/jetflow-dev/jetflow/internal/stage"
	jetflowv1 "github.com/jetflow-dev/jetflow/proto/jetflow/v1"
	"github.com/jetflow-dev/jetflow/streams"
)

// Answer is voice-answer: it retrieves sources for the transcript (unless the request switched
// RAG off), asks the LLM with the session's history, and hands the answer to voice-synthesize.
// An empty answer ends the turn with a VoiceResponse without audio.
func (w *Worker) Answer(ctx context.Context, t *jetflowv1.VoiceTurn, _ *stage.Input) ([]stage.Output, error) {
	if strings.TrimSpace(t.GetTranscript()) == "" {
		return nil, failure.Invalidf("the turn has no transcript to answer")
	}
	ref := turnRef{session: t.GetSessionId(), turn: t.GetTurnId(), request: t.GetRequestId()}
	return w.inTurn(ctx, StageAnswer, ref, nil, func(ctx context.Context, state *sessionState) ([]stage.Output, error) {
		return w.answer(ctx, t, ref, state)
	})
}

func (w *Worker) answer(ctx context.Context, t *jetflowv1.VoiceTurn, ref turnRef, state *sessionState) ([]stage.Output, error) {
	q := rag.Question{
		Query: t.GetTranscript(), History: state.chatHistory(), Collection: t.GetCollection(), SystemPrompt: w.cfg.SystemPrompt,
	}
	timings := append([]*jetflowv1.StageTiming(nil), t.GetTimings()...)
	var sources []*jetflowv1.Source
	if !t.GetDisableRag() {
		found, ts, err := w.clients.RAG.Retrieve(ctx, q, w.breakers.Answer)
		if err != nil {
			return nil, err
		}
		sources, timings = found, append(timings, ts...)
	}
	ans, err := w.clients.RAG.Generate(ctx, q, sources, w.breakers.Answer, nil)
	if err != nil {
		return nil, err
	}
	timings = append(timings, ans.Timing)
	// A spoken answer longer than a hand-off may carry is cut; nobody listens that long.
	text := rag.TruncateUTF8(strings.TrimSpace(ans.Text), jetflowv1.MaxAnswerBytes)
	if ok, err := w.stillCurrent(ctx, ref); err != nil || !ok {
		return nil, orSuperseded(err)
	}
	if text == "" {
		return []stage.Output{{
			Subject: streams.ResultSubject(streams.ResultKindVoice, t.GetRequestId()),
			Key:     "response",
			Msg: &jetflowv1.VoiceResponse{
				RequestId: t.GetRequestId(), SessionId: t.GetSessionId(), TurnId: t.GetTurnId(),
				Transcript: t.GetTranscript(), Sources: sources, Timings: timings,
			},
		}}, nil
	}
	next := proto.CloneOf(t)
	next.Answer, next.Sources, next.Timings, next.Audio = text, sources, timings, nil
	return []stage.Output{{Subject: streams.SubjectVoiceSynthesize, Msg: next}}, nil
}
