package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"connectrpc.com/connect"
	"github.com/nats-io/nats.go/jetstream"

	jetflowv1 "github.com/jetflow-dev/jetflow/proto/jetflow/v1"
	"github.com/jetflow-dev/jetflow/streams"
)

// Transcribe publishes each chunk to ai.stt.audio.<session_id> (stt-module) as it is received,
// with the Nats-Msg-Id of its request id, and after the end_of_stream chunk waits until the
// session has published everything, then returns the session's transcripts in order.
//
// A transcript carries no "last of the session" mark, so the gateway reads the end from the
// session's entry in the stt-sessions bucket: the session is ended and its outbox empty once
// every transcript is stored (stt-module removes an outbox item only after its publish ack).
func (sp speechService) Transcribe(ctx context.Context, in *connect.ClientStream[jetflowv1.TranscribeRequest]) (*jetflowv1.TranscribeResponse, error) {
	ctx, cancel := sp.s.waitContext(ctx, nil)
	defer cancel()
	var (
		session string
		ended   bool
		results *resultReader
		// A dead-lettered chunk (another sample rate, an expired deadline) ends the call: the
		// session may never be complete without it.
		failed  = make(chan deadLetter, 1)
		unwatch []func()
	)
	defer func() {
		if results != nil {
			results.Close()
		}
		for _, f := range unwatch {
			f()
		}
	}()
	for in.Receive() {
		chunk := in.Msg().GetChunk()
		switch {
		case ended:
			return nil, invalidArgument(&jetflowv1.ValidationError{Field: "chunk", Reason: "follows the end_of_stream chunk; a new stream needs a new session_id"})
		case session == "":
			session = chunk.GetSessionId()
			var err error
			results, err = sp.s.openResults(streams.ResultSubject(streams.ResultKindSTT, session), failed, "$KV."+streams.BucketSTTSessions+"."+session)
			if err != nil {
				return nil, waitError(ctx, "waiting for transcripts", err)
			}
		case chunk.GetSessionId() != session:
			return nil, invalidArgument(&jetflowv1.ValidationError{Field: "chunk.session_id", Reason: fmt.Sprintf("is %q, the stream's first chunk had %q: one call streams one session", chunk.GetSessionId(), session)})
		}
		sp.s.prepare(ctx, &chunk.UserId, &chunk.Deadline)
		unwatch = append(unwatch, sp.s.deadLetters.addTo(streams.StreamSTT, chunk.GetRequestId(), failed))
		if _, err := sp.s.publishRequest(ctx, streams.STTAudioSubject(session), streams.ResultKindSTT, chunk.GetRequestId(), chunk); err != nil {
			return nil, waitError(ctx, fmt.Sprintf("publishing chunk %d of session %s", chunk.GetSequence(), session), err)
		}
		ended = chunk.GetEndOfStream()
	}
	if err := in.Err(); err != nil {
		return nil, err
	}
	if !ended {
		return nil, invalidArgument(&jetflowv1.ValidationError{Field: "chunk.end_of_stream", Reason: "no chunk had it set; end the stream with an end_of_stream chunk so the last segment is closed and transcribed"})
	}
	if err := sp.s.waitSessionPublished(ctx, session, results); err != nil {
		return nil, waitError(ctx, "waiting for session "+session+" to be transcribed", err)
	}
	resp := &jetflowv1.TranscribeResponse{}
	for {
		raw, err := results.read(ctx)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return resp, nil
		}
		if err != nil {
			return nil, waitError(ctx, "reading the transcripts of session "+session, err)
		}
		results.next = raw.Sequence + 1
		t := &jetflowv1.Transcript{}
		if err := decodeResult(raw, t); err != nil {
			return nil, waitError(ctx, "reading the transcripts of session "+session, err)
		}
		resp.Transcripts = append(resp.Transcripts, t)
	}
}

// sttSession is what the gateway reads of stt-module's session entry: whether the stream ended
// and whether results are still to be published.
type sttSession struct {
	Ended  bool              `json:"ended"`
	Outbox []json.RawMessage `json:"outbox"`
}

// waitSessionPublished waits until session's entry says ended with an empty outbox, woken by
// the entry's updates and the session's results.
func (s *Server) waitSessionPublished(ctx context.Context, session string, wake *resultReader) error {
	recheck := time.NewTimer(s.cfg.Recheck)
	defer recheck.Stop()
	for {
		kv, err := s.sttSessions.Get(ctx)
		if err != nil {
			return err
		}
		entry, err := kv.Get(ctx, session)
		switch {
		case err == nil:
			var st sttSession
			if err := json.Unmarshal(entry.Value(), &st); err != nil {
				return fmt.Errorf("decoding session %s: %w", session, err)
			}
			if st.Ended && len(st.Outbox) == 0 {
				return nil
			}
		case !errors.Is(err, jetstream.ErrKeyNotFound):
			return fmt.Errorf("reading session %s: %w", session, err)
		}
		if _, err := wake.waitWake(ctx, recheck); err != nil {
			return err
		}
	}
}
