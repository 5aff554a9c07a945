package streams

import (
	"testing"

	"github.com/nats-io/nats.go/jetstream"
)

// The status bucket's file and the constants the publisher and `jetflow status` use agree, and
// its settings are those its doc comment relies on: one value per key, a TTL that removes the
// key of a replica that stopped, memory storage.
func TestStatusBucketDefinition(t *testing.T) {
	b, ok := mustLoad(t).Bucket(BucketStatus)
	if !ok {
		t.Fatalf("no kv/%s.json", BucketStatus)
	}
	if b.TTL != StatusTTL || b.History != 1 || b.Storage != jetstream.MemoryStorage {
		t.Errorf("ttl %v history %d storage %v, want %v 1 memory", b.TTL, b.History, b.Storage, StatusTTL)
	}
	if b.MaxBytes <= 0 || b.MaxValueSize <= 0 {
		t.Errorf("max_bytes %d max_value_size %d, want limits on a bucket held in memory", b.MaxBytes, b.MaxValueSize)
	}
	if got, want := StatusKey("chat-handler", "pod-1a2b"), "chat-handler.pod-1a2b"; got != want {
		t.Errorf("StatusKey = %q, want %q", got, want)
	}
	if got, want := StatusSubject("chat-handler"), "$KV.jetflow-status.chat-handler.>"; got != want {
		t.Errorf("StatusSubject = %q, want %q", got, want)
	}
}
