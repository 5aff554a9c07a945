package stt

import (
	"slices"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/jetflow-dev/jetflow/internal/failure"
	"github.com/jetflow-dev/jetflow/internal/stage"
	jetflowv1 "github.com/jetflow-dev/jetflow/proto/jetflow/v1"
)

func TestDecodeChunk(t *testing.T) {
	c := chunkAt(7)
	bin, err := proto.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	js, err := protojson.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	odd := chunkAt(7)
	odd.Pcm = odd.Pcm[:5]
	oddBin, _ := proto.Marshal(odd)
	// session_id (field 2) sent as a varint: another message type (a newer producer's fields,
	// unknown to SttAudioChunk, decode: stage.Decode ignores them).
	unknown := protowire.AppendVarint(protowire.AppendTag(slices.Clone(bin), 2, protowire.VarintType), 1)
	chunkType := string(proto.MessageName(c))
	tests := []struct {
		name   string
		ct     string
		typ    string // Jetflow-Type
		data   []byte
		reason string // empty: decodes
	}{
		{name: "protobuf", data: bin},
		{name: "protobuf naming its type", typ: chunkType, data: bin},
		{name: "protojson", ct: "application/json; charset=utf-8", data: js},
		{name: "json without the header", data: js, reason: "decoding"},
		{name: "garbage", data: []byte{0xff, 0xff, 0xff}, reason: "decoding"},
		{name: "invalid chunk", data: oddBin, reason: "even count"},
		{name: "another message type named", typ: "jetflow.v1.Transcript", data: bin, reason: "jetflow.v1.Transcript"},
		{name: "field of another wire type", data: unknown, reason: "is not a " + chunkType},
		{name: "empty", data: nil, reason: "empty payload"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := nats.Header{}
			if tt.ct != "" {
				h.Set(stage.HeaderContentType, tt.ct)
			}
			if tt.typ != "" {
				h.Set(stage.HeaderType, tt.typ)
			}
			got, err := decodeChunk(h, tt.data)
			if tt.reason == "" {
				if err != nil || !proto.Equal(got, c) {
					t.Fatalf("decodeChunk = %v, %v; want the chunk", got, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.reason) || !failure.IsPermanent(err) {
				t.Fatalf("error %v, want a permanent one about %q", err, tt.reason)
			}
		})
	}
}

// FuzzDecodeChunk feeds arbitrary stored messages to the decoder of chunks read back from the
// stream: it must never panic, and what it accepts must be a valid chunk.
func FuzzDecodeChunk(f *testing.F) {
	c := chunkAt(3)
	bin, _ := proto.Marshal(c)
	js, _ := protojson.Marshal(c)
	end, _ := proto.Marshal(&jetflowv1.SttAudioChunk{RequestId: "r", SessionId: "s", Sequence: 9, SampleRate: 48000, EndOfStream: true})
	f.Add(bin, false)
	f.Add(js, true)
	f.Add(end, false)
	f.Add([]byte(`{"sessionId":"s","sequence":"-1"}`), true)
	f.Add([]byte{0x0a, 0x80}, false)
	f.Add([]byte{}, false)
	f.Fuzz(func(t *testing.T, data []byte, asJSON bool) {
		h := nats.Header{}
		if asJSON {
			h.Set(stage.HeaderContentType, "application/json")
		}
		got, err := decodeChunk(h, data)
		if err != nil {
			return
		}
		if err := got.Validate(); err != nil {
			t.Fatalf("accepted an invalid chunk: %v", err)
		}
	})
}
