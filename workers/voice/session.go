package voice

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jetflow-dev/jetflow/internal/rag"
	"github.com/jetflow-dev/jetflow/internal/session"
	jetflowv1 "github.com/jetflow-dev/jetflow/proto/jetflow/v1"
)

// sessionState is a conversation's entry in the voice-sessions bucket, as JSON, so an operator
// reads it with `nats kv get voice-sessions <session_id>`.
type sessionState struct {
	// CurrentTurn is the session's latest turn. Handlers of any other turn drop their work.
	CurrentTurn string `json:"current_turn"`
	// CurrentRequest is the request that started CurrentTurn, for operators.
	CurrentRequest string `json:"current_request,omitempty"`
	// TurnSequence is the AI_VOICE stream sequence of that request as first published (a copy
	// requeued by the runtime keeps its original's). It orders requests that reach
	// voice-transcribe out of order (a redelivery, a requeued copy, a slower replica).
	TurnSequence uint64 `json:"turn_sequence,omitempty"`
	// TurnStartedAt is when CurrentTurn started.
	TurnStartedAt time.Time `json:"turn_started_at"`
	// History is what was said and answered, oldest first, bounded.
	History []historyMessage `json:"history,omitempty"`
}

// historyMessage is one message of the conversation. Turn tells which turn added it, so that
// a redelivered synthesis does not add its turn twice.
type historyMessage struct {
	Role    string `json:"role"`
	Content string `json:"content"`
	Turn    string `json:"turn,omitempty"`
}

// sessionTurn is the part of a session entry the turn registry reads from the watch.
type sessionTurn struct {
	CurrentTurn string `json:"current_turn"`
}

// decodeTurn reads the current turn from a voice-sessions value as the watch delivers it. The
// bucket is shared and writable by operators, so the value is outside input.
func decodeTurn(data []byte) (string, error) {
	var s sessionTurn
	if err := json.Unmarshal(data, &s); err != nil {
		return "", fmt.Errorf("decoding a voice session: %w", err)
	}
	return s.CurrentTurn, nil
}

// chatHistory is the history in the shape the RAG prompt takes.
func (s *sessionState) chatHistory() []*jetflowv1.ChatMessage {
	if s == nil {
		return nil
	}
	out := make([]*jetflowv1.ChatMessage, 0, len(s.History))
	for _, m := range s.History {
		out = append(out, &jetflowv1.ChatMessage{Role: m.Role, Content: m.Content})
	}
	return out
}

// hasTurn reports whether the history already holds messages of turn.
func (s *sessionState) hasTurn(turn string) bool {
	for _, m := range s.History {
		if m.Turn == turn {
			return true
		}
	}
	return false
}

// maxHistoryContent bounds one message of the history, so that a few long answers cannot
// push the whole conversation out of the bucket's value size.
const maxHistoryContent = 16 << 10

// sessions reads and writes the voice-sessions bucket.
type sessions struct {
	store           *session.Store[sessionState]
	historyMessages int
	orderWindow     time.Duration
}

// get returns the session's entry; a session that does not exist has an empty current turn.
func (s *sessions) get(ctx context.Context, id string) (session.Entry[sessionState], error) {
	e, err := s.store.Get(ctx, id)
	if errors.Is(err, session.ErrNotFound) {
		return session.Entry[sessionState]{}, nil
	}
	return e, err
}

// startTurn makes turn the session's current turn, unless a newer turn (by stream sequence)
// already is: then superseded is true and nothing is written. A turn that is already current
// (a redelivery) is left as it is.
func (s *sessions) startTurn(ctx context.Context, id, turn, requestID string, seq uint64, now time.Time) (e session.Entry[sessionState], superseded bool, err error) {
	e, err = s.store.Update(ctx, id, func(cur *sessionState, exists bool) (sessionState, error) {
		superseded = false
		switch {
		case exists && cur.CurrentTurn == turn:
			return sessionState{}, session.ErrSkip
		case exists && seq < cur.TurnSequence && now.Sub(cur.TurnStartedAt) < s.orderWindow:
			superseded = true
			return sessionState{}, session.ErrSkip
		}
		cur.CurrentTurn, cur.CurrentRequest, cur.TurnSequence, cur.TurnStartedAt = turn, requestID, seq, now
		return *cur, nil
	})
	if err != nil {
		return session.Entry[sessionState]{}, false, fmt.Errorf("starting turn %s: %w", turn, err)
	}
	return e, superseded, nil
}

// keepsHistory reports whether the sessions keep a history of turns (VOICE_HISTORY_MESSAGES
// is not negative).
func (s *sessions) keepsHistory() bool { return s.historyMessages >= 0 }

// recordTurn appends the question and the answer of turn to the history, if turn is still the
// current one and was not recorded before. It reports whether the history holds the turn
// afterwards (written now or before); false when the turn was superseded before it was
// recorded, or when no history is kept.
func (s *sessions) recordTurn(ctx context.Context, id, turn, question, answer string) (bool, error) {
	if !s.keepsHistory() {
		return false, nil
	}
	recorded := false
	budget := s.store.MaxValueSize() - 4<<10 // room for the other fields
	_, err := s.store.Update(ctx, id, func(cur *sessionState, exists bool) (sessionState, error) {
		recorded = exists && cur.hasTurn(turn)
		if !exists || cur.CurrentTurn != turn || recorded {
			return sessionState{}, session.ErrSkip
		}
		cur.History = append(cur.History,
			historyMessage{Role: jetflowv1.RoleUser, Content: rag.TruncateUTF8(question, maxHistoryContent), Turn: turn},
			historyMessage{Role: jetflowv1.RoleAssistant, Content: rag.TruncateUTF8(answer, maxHistoryContent), Turn: turn})
		cur.History = trimHistory(cur.History, s.historyMessages, budget)
		recorded = true
		return *cur, nil
	})
	if err != nil {
		return false, fmt.Errorf("recording turn %s in the history: %w", turn, err)
	}
	return recorded, nil
}

// trimHistory keeps the latest keep messages whose JSON fits in budget bytes, never starting
// with an assistant message (an answer without its question confuses the model).
func trimHistory(h []historyMessage, keep, budget int) []historyMessage {
	if len(h) > keep {
		h = h[len(h)-keep:]
	}
	size := 2 // []
	sizes := make([]int, len(h))
	for i, m := range h {
		b, _ := json.Marshal(m) // a struct of strings always encodes
		sizes[i] = len(b) + 1
		size += sizes[i]
	}
	for len(h) > 0 && size > budget {
		size -= sizes[0]
		h, sizes = h[1:], sizes[1:]
	}
	for len(h) > 0 && h[0].Role == jetflowv1.RoleAssistant {
		h = h[1:]
	}
	if len(h) == 0 {
		return nil
	}
	return append([]historyMessage(nil), h...)
}
