package stt

import (
	"slices"
	"time"

	"github.com/jetflow-dev/jetflow/internal/audio/vad"
)

// sessionState is the KV value of one audio stream (bucket stt-sessions, key = session id). It
// holds no audio, only where to find it in the AI_STT stream, so it stays far below the bucket's
// value limit.
type sessionState struct {
	// NextSeq is the next chunk sequence to consume.
	NextSeq int64 `json:"next_seq"`
	// SampleRate is fixed by the first chunk that arrived.
	SampleRate int `json:"sample_rate"`
	// Language is the latest language a chunk named, for the transcription requests.
	Language string `json:"language,omitempty"`
	// SpeakerID is the latest speaker_id a chunk with audio named, carried into the results of
	// the segments that close after it, never interpreted.
	SpeakerID string `json:"speaker_id,omitempty"`
	// VAD is the segmenter's state after the last consumed chunk.
	VAD vad.State `json:"vad"`
	// Offset is the number of samples consumed so far: the offset of the next chunk's audio.
	Offset int64 `json:"offset"`
	// Chunks locate the audio still needed, by the VAD (from its KeepFrom) or by a segment in
	// the outbox, in offset order.
	Chunks []chunkRef `json:"chunks,omitempty"`
	// Pending are chunks that arrived ahead of NextSeq, by sequence.
	Pending map[int64]pendingChunk `json:"pending,omitempty"`
	// Gaps are the gaps skipped since the last segment closed; the next segment carries them.
	Gaps []seqGap `json:"gaps,omitempty"`
	// Outbox holds the results not yet published, in publishing order.
	Outbox []outItem `json:"outbox,omitempty"`
	// Lease names who publishes the outbox, until when.
	Lease *lease `json:"lease,omitempty"`
	// NextSegment is the number of the next segment to close.
	NextSegment int64 `json:"next_segment"`
	// LastAudioAt is when the last new chunk arrived, for the idle timeout.
	LastAudioAt time.Time `json:"last_audio_at,omitzero"`
	// Ended is set once the end_of_stream chunk was consumed: later chunks are dropped.
	Ended bool `json:"ended,omitempty"`
	// JSON is set while the session's chunks arrive as protojson. Handlers publish results in the
	// encoding of the chunk they handle; the sweeper, which handles no chunk, reads it here, so
	// that a client driving the session in JSON gets every result in JSON.
	JSON bool `json:"json,omitempty"`
}

// chunkRef locates a consumed chunk's audio. The tags are short because a long segment made of
// small chunks holds hundreds of them, rewritten with every chunk.
type chunkRef struct {
	Seq       int64  `json:"q"`
	StreamSeq uint64 `json:"s"`
	Offset    int64  `json:"o"`
	Samples   int64  `json:"n"`
}

func (r chunkRef) end() int64 { return r.Offset + r.Samples }

// pendingChunk is a chunk that arrived ahead: where it is in the stream and when it arrived
// (Unix milliseconds: a session can hold hundreds, decoded and encoded on every update). The gap
// before NextSeq has been known since the earliest arrival of the chunks still pending.
type pendingChunk struct {
	StreamSeq uint64 `json:"s"`
	Arrived   int64  `json:"t"`
}

// seqGap is a run of missing chunk sequences, inclusive.
type seqGap struct {
	First int64 `json:"first"`
	Last  int64 `json:"last"`
}

// Kinds of outbox items.
const (
	itemFinal = "final"
	itemGap   = "gap"
)

// outItem is one result to publish: a closed segment (transcribed on publishing) or a gap
// report.
type outItem struct {
	// ID is the item's deterministic id, the Nats-Msg-Id of its result after "stt:".
	ID   string `json:"id"`
	Kind string `json:"kind"`
	// Segment is the segment's number; for a gap, the number of the segment it precedes or
	// lies in.
	Segment int64 `json:"segment"`
	// Start and End are sample offsets; a gap has Start = End = where the audio jumped.
	Start     int64      `json:"start"`
	End       int64      `json:"end"`
	Reason    vad.Reason `json:"reason,omitempty"`
	Gaps      []seqGap   `json:"gaps,omitempty"`
	Language  string     `json:"language,omitempty"`
	SpeakerID string     `json:"speaker_id,omitempty"`
}

// lease gives the outbox to one publisher until Until.
type lease struct {
	Token string    `json:"token"`
	Until time.Time `json:"until"`
}

// gapSince is when the earliest pending chunk arrived: since then NextSeq is known to be
// missing.
func (s *sessionState) gapSince() time.Time {
	first := true
	var since int64
	for _, p := range s.Pending {
		if first || p.Arrived < since {
			since, first = p.Arrived, false
		}
	}
	return time.UnixMilli(since)
}

// minPending is the lowest pending sequence; call it only with pending chunks.
func (s *sessionState) minPending() int64 {
	first := true
	var m int64
	for seq := range s.Pending {
		if first || seq < m {
			m, first = seq, false
		}
	}
	return m
}

// claim takes the outbox lease for token when there is something to publish and nobody holds a
// live lease. It reports whether token holds it now.
func (s *sessionState) claim(now time.Time, d time.Duration, token string) bool {
	if len(s.Outbox) == 0 {
		return false
	}
	if s.Lease != nil && now.Before(s.Lease.Until) {
		return s.Lease.Token == token
	}
	s.Lease = &lease{Token: token, Until: now.Add(d)}
	return true
}

// holds reports whether token holds the lease.
func (s *sessionState) holds(token string) bool { return s.Lease != nil && s.Lease.Token == token }

// removePublished drops the outbox items whose ids are in published.
func (s *sessionState) removePublished(published map[string]bool) {
	s.Outbox = slices.DeleteFunc(s.Outbox, func(it outItem) bool { return published[it.ID] })
	if len(s.Outbox) == 0 {
		s.Outbox = nil
	}
}

// prune forgets the chunks whose audio no future segment and no outbox item can need: those
// ending at or before keep (the VAD's KeepFrom) and before every segment in the outbox.
func (s *sessionState) prune(keep int64) {
	for _, it := range s.Outbox {
		if it.Kind == itemFinal {
			keep = min(keep, it.Start)
		}
	}
	s.Chunks = slices.DeleteFunc(s.Chunks, func(r chunkRef) bool { return r.end() <= keep })
	if len(s.Chunks) == 0 {
		s.Chunks = nil
	}
}
