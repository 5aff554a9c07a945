package voice

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"github.com/jetflow-dev/jetflow/internal/audio/audiochunk"
	"github.com/jetflow-dev/jetflow/internal/breaker"
	"github.com/jetflow-dev/jetflow/internal/failure"
	"github.com/jetflow-dev/jetflow/internal/stage"
	"github.com/jetflow-dev/jetflow/internal/upstream/speech"
	jetflowv1 "github.com/jetflow-dev/jetflow/proto/jetflow/v1"
	"github.com/jetflow-dev/jetflow/streams"
)

// Synthesize is voice-synthesize: it speaks the answer, publishing the audio as TtsAudioChunk
// messages on ai.result.voice.<request_id> while synthesis runs, then records the turn in the
// session's history, then publishes the last chunk and the VoiceResponse.
//
// It publishes its outputs itself (Input.Emit, deduplicated like returned outputs) instead of
// returning them, so that the history is written between the audio and the response: an
// answered turn is always in the history. A redelivery, or a requeued copy, that finds the
// VoiceResponse already published (the process died between publishing and acking) only
// makes sure the turn is recorded, without calling the TTS again.
func (w *Worker) Synthesize(ctx context.Context, t *jetflowv1.VoiceTurn, in *stage.Input) ([]stage.Output, error) {
	if strings.TrimSpace(t.GetAnswer()) == "" {
		return nil, failure.Invalidf("the turn has no answer to speak")
	}
	ref := turnRef{session: t.GetSessionId(), turn: t.GetTurnId(), request: t.GetRequestId()}
	return w.inTurn(ctx, StageSynthesize, ref, nil, func(ctx context.Context, _ *sessionState) ([]stage.Output, error) {
		return nil, w.synthesize(ctx, t, ref, in)
	})
}

func (w *Worker) synthesize(ctx context.Context, t *jetflowv1.VoiceTurn, ref turnRef, in *stage.Input) error {
	subject := streams.ResultSubject(streams.ResultKindVoice, t.GetRequestId())
	// Attempt, not Delivered: a copy requeued after an attempt (an open breaker) is a first
	// delivery of a message whose response may be out already.
	if in.Attempt > 1 {
		done, err := w.responded(ctx, subject)
		if err != nil {
			return err
		}
		if done {
			_, err := w.commit(ctx, ref, t)
			return err
		}
	}
	format := &jetflowv1.AudioFormat{Encoding: jetflowv1.AudioFormat_ENCODING_PCM16, SampleRate: int32(w.cfg.SampleRate), Channels: 1}
	chunk := func(seq int, data []byte, last bool) stage.Output {
		return stage.Output{Subject: subject, Key: fmt.Sprintf("chunk-%d", seq), Msg: &jetflowv1.TtsAudioChunk{
			RequestId: t.GetRequestId(), SessionId: t.GetSessionId(), TurnId: t.GetTurnId(), Sequence: int32(seq),
			Audio: append([]byte(nil), data...), Last: last, Format: format,
		}}
	}
	var final stage.Output
	split := audiochunk.New(w.chunkBytes, func(ctx context.Context, seq int, data []byte, last bool) error {
		if last {
			final = chunk(seq, data, true)
			return nil
		}
		if superseded(ctx, nil) {
			return ErrSuperseded
		}
		// Published at once, so playback starts while synthesis goes on.
		return in.Emit(ctx, chunk(seq, data, false))
	})
	voice := t.GetVoice()
	if voice == "" {
		voice = w.cfg.Voice
	}
	start := time.Now()
	for _, text := range speechSegments(t.GetAnswer(), w.cfg.MaxSpeechChars) {
		_, err := breaker.Do(ctx, w.breakers.Synthesize.Get(breaker.TTS), func(ctx context.Context) (int64, error) {
			_, n, err := w.clients.TTS.Stream(ctx, speech.Request{Input: text, Voice: voice, Format: speech.FormatPCM},
				func(c speech.Chunk) error { return split.Write(ctx, c.Data) })
			return n, err
		})
		if err != nil {
			return fmt.Errorf("synthesizing %d characters: %w", len(text), err)
		}
	}
	chunks, total, err := split.Close(ctx)
	if err != nil {
		return err
	}
	final.Msg.(*jetflowv1.TtsAudioChunk).TotalBytes = total
	resp := &jetflowv1.VoiceResponse{
		RequestId: t.GetRequestId(), SessionId: t.GetSessionId(), TurnId: t.GetTurnId(),
		Transcript: t.GetTranscript(), Answer: t.GetAnswer(), Sources: t.GetSources(),
		Timings:     append(append([]*jetflowv1.StageTiming(nil), t.GetTimings()...), timing("synthesize", time.Since(start))),
		AudioChunks: int32(chunks), AudioFormat: format,
	}
	// The turn goes into the history before its answer goes out. A client that has the answer
	// asks its next question, which supersedes this turn; recorded after publishing, a
	// redelivery (the process died between the two, or the history write failed) would find
	// the turn superseded and skip the record: an answered turn missing from the history.
	if ok, err := w.commit(ctx, ref, t); err != nil || !ok {
		return orSuperseded(err)
	}
	// Committed: a newer turn starting now must not stop this answer from going out, so the
	// publishes do not end with the turn's context (each still waits at most the JetStream
	// client's publish timeout for its ack).
	out := context.WithoutCancel(ctx)
	if err := in.Emit(out, final); err != nil {
		return err
	}
	return in.Emit(out, stage.Output{Subject: subject, Key: "response", Msg: resp})
}

// commit records the turn in the session's history if it is still the current turn, and
// reports whether its answer may go out: the turn is current, or an earlier attempt recorded it.
func (w *Worker) commit(ctx context.Context, ref turnRef, t *jetflowv1.VoiceTurn) (bool, error) {
	if superseded(ctx, nil) {
		return false, nil
	}
	if ref.session == "" {
		return true, nil
	}
	s, err := w.sessionStore.Get(ctx)
	if err != nil {
		return false, err
	}
	if !s.keepsHistory() {
		return w.stillCurrent(ctx, ref)
	}
	committed, err := s.recordTurn(ctx, ref.session, ref.turn, t.GetTranscript(), t.GetAnswer())
	if superseded(ctx, err) {
		return false, nil
	}
	return committed, err
}

// responded reports whether the VoiceResponse of a request is already in AI_RESULTS: the last
// message on its result subject is the response, published after the last chunk.
func (w *Worker) responded(ctx context.Context, subject string) (bool, error) {
	s, err := w.resultStream.Get(ctx)
	if err != nil {
		return false, err
	}
	m, err := s.GetLastMsgForSubject(ctx, subject)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("looking for an earlier response on %s: %w", subject, err)
	}
	return m.Header.Get(stage.HeaderType) == string(proto.MessageName(&jetflowv1.VoiceResponse{})), nil
}

// speechSegments cuts text into pieces of at most maxChars characters for the TTS: at sentence
// ends where it can, else between words, else inside a word.
func speechSegments(text string, maxChars int) []string {
	text = strings.TrimSpace(text)
	if text == "" {
		return nil
	}
	if utf8.RuneCountInString(text) <= maxChars {
		return []string{text}
	}
	return pack(sentences(text), maxChars, false)
}

// pack joins units greedily into pieces of at most maxChars characters. A unit too long on its
// own is cut into words (or, when it is already a word, into runs of runes).
func pack(units []string, maxChars int, words bool) []string {
	var out []string
	var cur strings.Builder
	n := 0
	flush := func() {
		if s := strings.TrimSpace(cur.String()); s != "" {
			out = append(out, s)
		}
		cur.Reset()
		n = 0
	}
	for _, u := range units {
		un := utf8.RuneCountInString(u)
		if un > maxChars {
			flush()
			if words {
				out = append(out, runeRuns(u, maxChars)...)
			} else {
				out = append(out, pack(strings.SplitAfter(u, " "), maxChars, true)...)
			}
			continue
		}
		if n+un > maxChars {
			flush()
		}
		cur.WriteString(u)
		n += un
	}
	flush()
	return out
}

// sentences cuts text after each '.', '!', '?', '…' or line break that a space follows.
func sentences(text string) []string {
	var out []string
	start := 0
	for i, r := range text {
		if r != '.' && r != '!' && r != '?' && r != '…' && r != '\n' {
			continue
		}
		end := i + utf8.RuneLen(r)
		if next, _ := utf8.DecodeRuneInString(text[end:]); end < len(text) && unicode.IsSpace(next) {
			out = append(out, text[start:end])
			start = end
		}
	}
	if start < len(text) {
		out = append(out, text[start:])
	}
	return out
}

// runeRuns cuts s into runs of at most n runes, without blanks at their ends.
func runeRuns(s string, n int) []string {
	var out []string
	for s = strings.TrimSpace(s); s != ""; {
		cut := len(s)
		count := 0
		for i := range s {
			if count == n {
				cut = i
				break
			}
			count++
		}
		if piece := strings.TrimSpace(s[:cut]); piece != "" {
			out = append(out, piece)
		}
		s = strings.TrimSpace(s[cut:])
	}
	return out
}
