// Package audiochunk splits audio that arrives as a stream into sequenced chunks that each fit a
// NATS message. tts-module and voice-assistant publish audio this way: a 2 MB answer cannot be
// one message (the default max payload is 1 MiB), and the first chunk can be played before the
// last one is synthesized.
package audiochunk

import (
	"context"
	"errors"
)

// headroom is kept free in every message for headers (Nats-Msg-Id, trace context, Jetflow-*)
// and the protobuf fields around the audio.
const headroom = 16 << 10

// MaxChunkBytes is the largest audio chunk that fits a message of maxPayload bytes.
func MaxChunkBytes(maxPayload int64) int {
	n := int(maxPayload) - headroom
	if n < 1024 {
		n = 1024
	}
	return n
}

// ResultsMaxMsgSize is the max_msg_size of AI_RESULTS (streams/stream/AI_RESULTS.json), where
// audio chunks are published: no chunk message may be larger, whatever the server allows.
const ResultsMaxMsgSize = 1 << 20

// ChunkBytesFor returns the audio bytes per chunk message for a connection whose server allows
// messages of serverMaxPayload bytes (0 or less when unknown) and a configured chunk size (0 or
// less for "as large as fits"). The result never exceeds what fits a message of
// min(serverMaxPayload, ResultsMaxMsgSize), so a configured size too large for the stream is cut
// rather than refused at publish time; it is even, so a chunk of PCM16 never splits a sample;
// and it is at least 2, so a Splitter always makes progress.
func ChunkBytesFor(serverMaxPayload int64, configured int) int {
	limit := int64(ResultsMaxMsgSize)
	if serverMaxPayload > 0 {
		limit = min(limit, serverMaxPayload)
	}
	n := MaxChunkBytes(limit)
	if configured > 0 {
		n = min(n, configured)
	}
	return max(n&^1, 2)
}

// Emit publishes one chunk. data is only valid during the call.
type Emit func(ctx context.Context, sequence int, data []byte, last bool) error

// Splitter buffers streamed audio and emits it in chunks of exactly Size bytes, except the last.
// A chunk is emitted only once more audio follows it, so that the one marked last is known to be
// last. The zero value is not usable; use New.
type Splitter struct {
	size  int
	emit  Emit
	buf   []byte
	seq   int
	total int64
	done  bool
}

// New returns a Splitter emitting chunks of size bytes through emit.
func New(size int, emit Emit) *Splitter {
	// The buffer grows with the audio: most answers are far smaller than a chunk, and a
	// preallocated chunk-sized buffer per request dominated tts-module's memory under load.
	return &Splitter{size: size, emit: emit}
}

// ErrClosed is returned by Write after Close.
var ErrClosed = errors.New("audio splitter already closed")

// Write adds audio, emitting every chunk that is known not to be the last.
func (s *Splitter) Write(ctx context.Context, p []byte) error {
	if s.done {
		return ErrClosed
	}
	s.buf = append(s.buf, p...)
	s.total += int64(len(p))
	for len(s.buf) > s.size {
		if err := s.emit(ctx, s.seq, s.buf[:s.size], false); err != nil {
			return err
		}
		s.seq++
		s.buf = append(s.buf[:0], s.buf[s.size:]...)
	}
	return nil
}

// Close emits the rest as the last chunk (possibly empty when no audio came at all) and returns
// the number of chunks and bytes in all.
func (s *Splitter) Close(ctx context.Context) (chunks int, total int64, err error) {
	if s.done {
		return s.seq, s.total, ErrClosed
	}
	s.done = true
	if err := s.emit(ctx, s.seq, s.buf, true); err != nil {
		return s.seq, s.total, err
	}
	s.seq++
	return s.seq, s.total, nil
}
