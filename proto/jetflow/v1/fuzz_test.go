package jetflowv1

import (
	"errors"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// The stage runtime decodes every payload from the stream as protobuf, or as protojson when
// the producer says so, and then validates it. Whatever the bytes, that must end in a message
// or a ValidationError (ErrInvalid), never a panic. The seeds are the valid test messages in both
// encodings, plus the committed files under testdata/fuzz/.

func FuzzUnmarshalChatRequest(f *testing.F)      { fuzzUnmarshal(f, validChatRequest()) }
func FuzzUnmarshalChatGenerateTask(f *testing.F) { fuzzUnmarshal(f, validChatGenerateTask()) }
func FuzzUnmarshalVoiceRequest(f *testing.F)     { fuzzUnmarshal(f, validVoiceRequest()) }
func FuzzUnmarshalVoiceTurn(f *testing.F)        { fuzzUnmarshal(f, validVoiceTurn()) }
func FuzzUnmarshalSttAudioChunk(f *testing.F)    { fuzzUnmarshal(f, validSttAudioChunk()) }
func FuzzUnmarshalTtsRequest(f *testing.F)       { fuzzUnmarshal(f, validTtsRequest()) }
func FuzzUnmarshalPipelineTrigger(f *testing.F)  { fuzzUnmarshal(f, validPipelineTrigger()) }

func fuzzUnmarshal[M validatable](f *testing.F, seed M) {
	f.Helper()
	b, err := proto.Marshal(seed)
	if err != nil {
		f.Fatal(err)
	}
	j, err := protojson.Marshal(seed)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add(j)
	f.Add([]byte{})
	f.Add([]byte("{}"))

	newMsg := func() M { return seed.ProtoReflect().New().Interface().(M) }
	decoders := []struct {
		name      string
		unmarshal func([]byte, proto.Message) error
		marshal   func(proto.Message) ([]byte, error)
	}{
		{"protobuf", proto.Unmarshal, proto.Marshal},
		{"protojson", protojson.Unmarshal, protojson.Marshal},
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, d := range decoders {
			m := newMsg()
			if err := d.unmarshal(data, m); err != nil {
				continue
			}
			err := m.Validate()
			if err != nil {
				var ve *ValidationError
				if !errors.Is(err, ErrInvalid) || !errors.As(err, &ve) {
					t.Fatalf("%s: Validate() = %v, want a *ValidationError (ErrInvalid)", d.name, err)
				}
				continue
			}
			// A valid message stays valid through a round trip: what a stage publishes, the
			// next stage accepts.
			out, err := d.marshal(m)
			if err != nil {
				t.Fatalf("%s: re-encoding a valid message: %v", d.name, err)
			}
			again := newMsg()
			if err := d.unmarshal(out, again); err != nil {
				t.Fatalf("%s: decoding a re-encoded valid message: %v", d.name, err)
			}
			if err := again.Validate(); err != nil {
				t.Fatalf("%s: valid message invalid after a round trip: %v", d.name, err)
			}
		}
	})
}
