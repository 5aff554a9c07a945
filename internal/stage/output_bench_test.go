package stage

import (
	"context"
	"testing"

	"google.golang.org/protobuf/types/known/wrapperspb"
)

// BenchmarkOutputBuild measures building one output message (encode into a pooled buffer,
// runtime headers, Nats-Msg-Id) as the runtime does for every published output:
//
//	go test -run '^$' -bench OutputBuild -benchmem ./internal/stage
func BenchmarkOutputBuild(b *testing.B) {
	s := &Stage{cfg: Config{Name: "tts"}}
	in := &Input{Subject: "ai.tts.request", Stream: "AI_TTS", Sequence: 7, Delivered: 1, origin: "AI_TTS:7"}
	p := &publisher{stage: s, in: in}
	out := Output{Subject: "ai.result.tts.r-1", Msg: wrapperspb.Bytes(make([]byte, 1<<10))}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		msg, buf, err := p.build(ctx, out, "#1")
		if err != nil {
			b.Fatal(err)
		}
		if len(msg.Data) == 0 {
			b.Fatal("empty output")
		}
		releaseBuffer(buf)
	}
}
