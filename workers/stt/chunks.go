package stt

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetflow-dev/jetflow/internal/failure"
	"github.com/jetflow-dev/jetflow/internal/stage"
	jetflowv1 "github.com/jetflow-dev/jetflow/proto/jetflow/v1"
)

// readParallel bounds the reads of one handler call in flight at once: a chunk that closes a
// long gap may have to read back a hundred chunks, and one round trip at a time is slow.
const readParallel = 8

// chunkCache holds the chunks one handler call has read, by stream sequence. A nil value means
// the message is gone from the stream (older than its max age) or unreadable; an absent key
// means it has not been read yet. Chunks are immutable, so the cache stays valid across the
// retries of a CAS. It is used by one goroutine.
type chunkCache map[uint64]*jetflowv1.SttAudioChunk

// readChunks reads the chunks at streamSeqs that cache does not hold yet.
func (w *Worker) readChunks(ctx context.Context, cache chunkCache, streamSeqs []uint64) error {
	var todo []uint64
	for _, ss := range streamSeqs {
		if _, ok := cache[ss]; !ok {
			todo = append(todo, ss)
		}
	}
	if len(todo) == 0 {
		return nil
	}
	chunks := make([]*jetflowv1.SttAudioChunk, len(todo))
	errs := make([]error, len(todo))
	slots := make(chan struct{}, readParallel)
	var wg sync.WaitGroup
	for i, ss := range todo {
		wg.Go(func() {
			slots <- struct{}{}
			defer func() { <-slots }()
			chunks[i], errs[i] = w.readChunk(ctx, ss)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	for i, ss := range todo {
		cache[ss] = chunks[i]
	}
	return nil
}

// readChunk reads the chunk stored at streamSeq; nil when it is gone or unreadable.
func (w *Worker) readChunk(ctx context.Context, streamSeq uint64) (*jetflowv1.SttAudioChunk, error) {
	st, err := w.audio.Get(ctx)
	if err != nil {
		return nil, err
	}
	msg, err := st.GetMsg(ctx, streamSeq)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		w.log.Warn("audio chunk is gone from the stream; its audio is skipped", "stream_seq", streamSeq)
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading audio chunk at stream sequence %d: %w", streamSeq, err)
	}
	c, err := decodeChunk(msg.Header, msg.Data)
	if err != nil {
		// It decoded and validated when it arrived; a message that does not now is not ours.
		w.log.Error("audio chunk read back does not decode; its audio is skipped", "stream_seq", streamSeq, "error", err)
		return nil, nil
	}
	return c, nil
}

// decodeChunk decodes a stored SttAudioChunk the way the stage runtime decoded it on arrival
// (stage.Decode, then Validate).
func decodeChunk(h nats.Header, data []byte) (*jetflowv1.SttAudioChunk, error) {
	c := &jetflowv1.SttAudioChunk{}
	if err := stage.Decode(h, data, c); err != nil {
		return nil, fmt.Errorf("decoding audio chunk: %w", err)
	}
	if err := c.Validate(); err != nil {
		return nil, failure.Invalid(fmt.Errorf("validating audio chunk: %w", err))
	}
	return c, nil
}
