package audiochunk

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/jetflow-dev/jetflow/streams"
)

func TestSplitterReassemblesExactly(t *testing.T) {
	tests := []struct {
		name       string
		total      int
		size       int
		wantChunks int
	}{
		{name: "2 MB in 1 MB chunks", total: 2 << 20, size: MaxChunkBytes(1 << 20), wantChunks: 3},
		{name: "exact multiple", total: 3000, size: 1000, wantChunks: 3},
		{name: "one byte over", total: 3001, size: 1000, wantChunks: 4},
		{name: "smaller than a chunk", total: 10, size: 1000, wantChunks: 1},
		{name: "nothing", total: 0, size: 1000, wantChunks: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			audio := make([]byte, tt.total)
			rng := rand.New(rand.NewPCG(1, 2))
			for i := range audio {
				audio[i] = byte(rng.IntN(256))
			}
			var got bytes.Buffer
			var seqs []int
			lasts := 0
			s := New(tt.size, func(_ context.Context, seq int, data []byte, last bool) error {
				if len(data) > tt.size {
					t.Fatalf("chunk %d has %d bytes > %d", seq, len(data), tt.size)
				}
				seqs = append(seqs, seq)
				if last {
					lasts++
				}
				got.Write(data)
				return nil
			})
			// Feed it in reads of random sizes, as an HTTP body arrives.
			for rest := audio; len(rest) > 0; {
				n := min(len(rest), 1+rng.IntN(70000))
				if err := s.Write(context.Background(), rest[:n]); err != nil {
					t.Fatal(err)
				}
				rest = rest[n:]
			}
			chunks, total, err := s.Close(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if chunks != tt.wantChunks || len(seqs) != tt.wantChunks || total != int64(tt.total) || lasts != 1 {
				t.Fatalf("chunks=%d seqs=%v total=%d lasts=%d", chunks, seqs, total, lasts)
			}
			for i, s := range seqs {
				if s != i {
					t.Fatalf("sequence %v not 0..n-1", seqs)
				}
			}
			if !bytes.Equal(got.Bytes(), audio) {
				t.Fatal("reassembled audio differs")
			}
		})
	}
}

func TestWriteAfterClose(t *testing.T) {
	s := New(10, func(context.Context, int, []byte, bool) error { return nil })
	if _, _, err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := s.Write(context.Background(), []byte("x")); !errors.Is(err, ErrClosed) {
		t.Fatalf("Write after Close = %v", err)
	}
}

func TestChunkBytesFor(t *testing.T) {
	fits1MiB := MaxChunkBytes(1 << 20)
	tests := []struct {
		name             string
		serverMaxPayload int64
		configured       int
		want             int
	}{
		{name: "default server", serverMaxPayload: 1 << 20, want: fits1MiB},
		{name: "unknown server limit", serverMaxPayload: 0, want: fits1MiB},
		{name: "server allows more than AI_RESULTS", serverMaxPayload: 8 << 20, want: fits1MiB},
		{name: "smaller server limit", serverMaxPayload: 256 << 10, want: MaxChunkBytes(256 << 10)},
		{name: "odd server limit rounded to whole samples", serverMaxPayload: 100_001, want: (100_001 - headroom) &^ 1},
		{name: "configured", serverMaxPayload: 1 << 20, configured: 32 << 10, want: 32 << 10},
		{name: "odd configured rounded to whole samples", serverMaxPayload: 1 << 20, configured: 4001, want: 4000},
		{name: "configured too large for AI_RESULTS", serverMaxPayload: 8 << 20, configured: 2 << 20, want: fits1MiB},
		{name: "configured too large for the server", serverMaxPayload: 64 << 10, configured: 1 << 20, want: MaxChunkBytes(64 << 10)},
		{name: "configured one byte", serverMaxPayload: 1 << 20, configured: 1, want: 2},
		{name: "negative configured means as large as fits", serverMaxPayload: 1 << 20, configured: -4, want: fits1MiB},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ChunkBytesFor(tt.serverMaxPayload, tt.configured)
			if got != tt.want {
				t.Fatalf("ChunkBytesFor(%d, %d) = %d, want %d", tt.serverMaxPayload, tt.configured, got, tt.want)
			}
			message := int64(ResultsMaxMsgSize)
			if tt.serverMaxPayload > 0 {
				message = min(message, tt.serverMaxPayload)
			}
			if got%2 != 0 || int64(got)+headroom > message {
				t.Fatalf("ChunkBytesFor(%d, %d) = %d splits a sample or overflows a message", tt.serverMaxPayload, tt.configured, got)
			}
		})
	}
}

func TestResultsMaxMsgSizeIsTheStreams(t *testing.T) {
	set, err := streams.Load()
	if err != nil {
		t.Fatal(err)
	}
	cfg, ok := set.Stream(streams.StreamResults)
	if !ok {
		t.Fatalf("no %s stream definition", streams.StreamResults)
	}
	if cfg.MaxMsgSize != ResultsMaxMsgSize {
		t.Fatalf("%s max_msg_size = %d, ResultsMaxMsgSize = %d", streams.StreamResults, cfg.MaxMsgSize, ResultsMaxMsgSize)
	}
}
