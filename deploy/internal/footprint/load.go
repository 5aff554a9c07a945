package footprint

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	jetflowv1 "github.com/jetflow-dev/jetflow/proto/jetflow/v1"
	"github.com/jetflow-dev/jetflow/streams"
)

// Loader publishes n requests for a worker.
type Loader func(ctx context.Context, js jetstream.JetStream, n int) error

// Loaders are the load generators there are, by worker. The others need input that is not
// simple to make up (streamed audio for stt-module and voice-assistant) or an external system
// (Argo or KFP for pipeline-bridge).
func Loaders(ragOff bool) map[string]Loader {
	return map[string]Loader{
		"tts-module": func(ctx context.Context, js jetstream.JetStream, n int) error {
			return publishAll(ctx, js, streams.SubjectTTSRequest, n, func(id string) proto.Message {
				return &jetflowv1.TtsRequest{RequestId: id, Text: "The quick brown fox jumps over the lazy dog."}
			})
		},
		"chat-handler": func(ctx context.Context, js jetstream.JetStream, n int) error {
			return publishAll(ctx, js, streams.SubjectChatRequest, n, func(id string) proto.Message {
				return &jetflowv1.ChatRequest{RequestId: id, Query: "What does jetflow do with a failed message?", DisableRag: ragOff}
			})
		},
	}
}

// publishAll publishes n requests asynchronously and waits for every publish ack, so that the
// worker faces a full queue at once.
func publishAll(ctx context.Context, js jetstream.JetStream, subject string, n int, msg func(id string) proto.Message) error {
	futures := make([]jetstream.PubAckFuture, 0, n)
	for i := range n {
		data, err := proto.Marshal(msg(fmt.Sprintf("footprint-%d", i)))
		if err != nil {
			return fmt.Errorf("encoding request: %w", err)
		}
		f, err := js.PublishAsync(subject, data)
		if err != nil {
			return fmt.Errorf("publishing to %s: %w", subject, err)
		}
		futures = append(futures, f)
	}
	for _, f := range futures {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			return fmt.Errorf("publishing to %s: %w", subject, err)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// lag is the KEDA lag (pending + ack pending) summed over consumers. It is polled, so each
// consumer costs one round trip: the lookup fetches fresh info, which is what is read.
func lag(ctx context.Context, js jetstream.JetStream, set *streams.Set, consumers []string) (uint64, error) {
	var total uint64
	for _, name := range consumers {
		stream, _, ok := set.Consumer(name)
		if !ok {
			return 0, fmt.Errorf("no consumer %s in streams/", name)
		}
		c, err := js.Consumer(ctx, stream, name)
		if err != nil {
			return 0, fmt.Errorf("reading consumer %s: %w", name, err)
		}
		info := c.CachedInfo()
		total += info.NumPending + uint64(info.NumAckPending)
	}
	return total, nil
}

// streamMsgs counts the messages in a stream (AI_RESULTS, AI_DLQ), from the info the lookup
// fetched.
func streamMsgs(ctx context.Context, js jetstream.JetStream, name string) (uint64, error) {
	s, err := js.Stream(ctx, name)
	if err != nil {
		return 0, fmt.Errorf("reading %s: %w", name, err)
	}
	return s.CachedInfo().State.Msgs, nil
}
