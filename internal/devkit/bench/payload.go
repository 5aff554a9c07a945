package bench

import (
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// minPayloadSize leaves room for the protobuf tag and length of a BytesValue.
const minPayloadSize = 16

// requestType is what every benchmark request is: one message type for every payload size, so
// the rows differ by size only. (jetflow.v1 requests cap their text fields, 8 KiB for a TTS
// text, below the 64 KiB and 512 KiB rows; the decode cost of a real request type is measured by
// BenchmarkTypedDecode.)
type requestType = wrapperspb.BytesValue

// requestTypeName is requestType's full protobuf name, sent in the Jetflow-Type header as an
// upstream jetflow stage would.
const requestTypeName = "google.protobuf.BytesValue"

// request returns an encoded BytesValue of exactly size bytes.
func request(size int) ([]byte, error) {
	if size < minPayloadSize {
		return nil, fmt.Errorf("payload size %d is below %d", size, minPayloadSize)
	}
	n, ok := requestValueLen(size)
	if !ok {
		return nil, fmt.Errorf("no BytesValue encodes to exactly %d bytes", size)
	}
	value := make([]byte, n)
	for i := range value {
		value[i] = byte('a' + i%26)
	}
	data, err := proto.Marshal(&requestType{Value: value})
	if err != nil {
		return nil, fmt.Errorf("encoding a %d-byte request: %w", size, err)
	}
	if len(data) != size {
		return nil, fmt.Errorf("encoding a %d-byte request gave %d bytes", size, len(data))
	}
	return data, nil
}

// requestValueLen is the length of the value whose BytesValue encodes to size bytes, and false
// when none does: size = 1 (tag) + varint(n) + n, and where varint(n) grows by a byte the
// encoded size jumps by two (129 → 131, 16386 → 16388), so some sizes have no n.
func requestValueLen(size int) (n int, ok bool) {
	n = size - 1 - protowire.SizeVarint(uint64(size))
	for n > 0 && encodedRequestSize(n) > size {
		n--
	}
	for encodedRequestSize(n) < size {
		n++
	}
	return n, encodedRequestSize(n) == size
}

func encodedRequestSize(n int) int { return 1 + protowire.SizeVarint(uint64(n)) + n }

// nearestRequestSizes are the sizes next to size, below and above, that a request can have.
func nearestRequestSizes(size int) (below, above int) {
	below, above = size-1, size+1
	for below > 0 {
		if _, ok := requestValueLen(below); ok {
			break
		}
		below--
	}
	for {
		if _, ok := requestValueLen(above); ok {
			break
		}
		above++
	}
	return below, above
}
