package dlq

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/jetflow-dev/jetflow/internal/stage"
	_ "github.com/jetflow-dev/jetflow/proto/jetflow/v1" // registers every jetflow message type, for decoding payloads by name
	"github.com/jetflow-dev/jetflow/streams"
)

const showUsage = `jetflow dlq show SEQ: one dead letter in full.

Prints where it is, its replay record, the trace id of its traceparent header (open the trace
with it), every header, and the payload decoded by its Jetflow-Type header as protojson (as
Content-Type says, protojson or binary protobuf). A payload that cannot be decoded is shown raw:
quoted when it is text, as a hex dump otherwise.
`

func show(ctx context.Context, args []string, env Env) error {
	c := newCommand("show", showUsage)
	words, err := c.parse(args, env.Stdout)
	if err != nil {
		return err
	}
	if len(words) != 1 {
		return usageErrorf("show takes one sequence, the first column of jetflow dlq ls (see jetflow dlq show --help)")
	}
	seq, err := strconv.ParseUint(words[0], 10, 64)
	if err != nil || seq == 0 {
		return usageErrorf("show: %q is not a sequence: give the first column of jetflow dlq ls", words[0])
	}
	js, closeConn, err := connect(ctx, env)
	if err != nil {
		return err
	}
	defer closeConn()
	l, err := getLetter(ctx, js, seq)
	if err != nil {
		return err
	}
	recs, err := openRecords(ctx, js)
	if err != nil {
		return err
	}
	rec, err := recs.Get(ctx, l)
	if err != nil {
		return err
	}
	writeLetter(env.Stdout, l, rec, env.now())
	return nil
}

func writeLetter(w io.Writer, l Letter, rec *Record, now time.Time) {
	fmt.Fprintf(w, "Dead letter %d in %s (%s), dead-lettered %s (%s ago)\n", l.Seq, streams.StreamDeadLetter, l.Subject,
		l.FailedAt.UTC().Format(time.RFC3339), age(now.Sub(l.FailedAt)))
	fmt.Fprintf(w, "Stage %s gave up (%s) after %d attempts: %s\n", l.Stage, l.Kind, l.Deliveries, l.Reason)
	if l.OriginalSubject != "" {
		fmt.Fprintf(w, "Original: %s, %s sequence %d\n", l.OriginalSubject, l.OriginalStream, l.OriginalSeq)
	}
	if id, ok := traceID(l.Header.Get("traceparent")); ok {
		fmt.Fprintf(w, "Trace id: %s\n", id)
	}
	switch {
	case rec == nil:
		fmt.Fprintln(w, "Replayed: no")
	case rec.State != stateReplayed:
		fmt.Fprintf(w, "Replayed: unconfirmed, a replay as %s began at %s (run jetflow dlq replay %d to finish it)\n",
			rec.MsgID, rec.At.UTC().Format(time.RFC3339), l.Seq)
	default:
		fmt.Fprintf(w, "Replayed: generation %d at %s, as %s to %s (%s sequence %d)\n", rec.Generation,
			rec.At.UTC().Format(time.RFC3339), rec.MsgID, rec.Subject, rec.Stream, rec.Seq)
	}
	if l.Truncated {
		fmt.Fprintf(w, "The payload was cut to fit the server's max payload (%s: %s bytes): it cannot be replayed\n",
			stage.HeaderPayloadTruncated, l.Header.Get(stage.HeaderPayloadTruncated))
	}
	fmt.Fprintln(w, "\nHeaders:")
	keys := make([]string, 0, len(l.Header))
	for k := range l.Header {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		for _, v := range l.Header[k] {
			fmt.Fprintf(w, "  %s: %s\n", k, v)
		}
	}
	fmt.Fprintln(w)
	writePayload(w, l.Header, l.Data)
}

// writePayload decodes the payload by its type header, or shows it raw and says why.
func writePayload(w io.Writer, h nats.Header, data []byte) {
	typeName := h.Get(stage.HeaderType)
	asJSON := strings.HasPrefix(h.Get(stage.HeaderContentType), "application/json")
	encoding := "binary protobuf"
	if asJSON {
		encoding = "protojson"
	}
	decoded, err := decodePayload(typeName, asJSON, data)
	if err == nil {
		fmt.Fprintf(w, "Payload (%s, %s, %d bytes):\n%s\n", typeName, encoding, len(data), decoded)
		return
	}
	fmt.Fprintf(w, "Payload (%d bytes, raw: %v):\n%s\n", len(data), err, raw(data))
}

func decodePayload(typeName string, asJSON bool, data []byte) (string, error) {
	if typeName == "" {
		return "", fmt.Errorf("no %s header names its type", stage.HeaderType)
	}
	mt, err := protoregistry.GlobalTypes.FindMessageByName(protoreflect.FullName(typeName))
	if err != nil {
		return "", fmt.Errorf("%s %q is not a known message type", stage.HeaderType, typeName)
	}
	msg := mt.New().Interface()
	if asJSON {
		err = protojson.Unmarshal(data, msg)
	} else {
		err = proto.Unmarshal(data, msg)
	}
	if err != nil {
		return "", fmt.Errorf("not a valid %s: %w", typeName, err)
	}
	b, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(msg)
	if err != nil {
		return "", fmt.Errorf("printing %s: %w", typeName, err)
	}
	// protojson varies its whitespace on purpose; encoding/json indents it the same every time.
	var indented bytes.Buffer
	if err := json.Indent(&indented, b, "", "  "); err != nil {
		return "", fmt.Errorf("printing %s: %w", typeName, err)
	}
	return indented.String(), nil
}

// raw shows bytes that could not be decoded: quoted when they are text, a hex dump otherwise.
func raw(data []byte) string {
	if len(data) == 0 {
		return "(empty)"
	}
	if utf8.Valid(data) && !strings.ContainsFunc(string(data), func(r rune) bool {
		return !unicode.IsPrint(r) && !unicode.IsSpace(r)
	}) {
		return strconv.Quote(string(data))
	}
	return strings.TrimSuffix(hex.Dump(data), "\n")
}

// traceID reads the trace id of a W3C traceparent: version-traceid-parentid-flags.
func traceID(traceparent string) (string, bool) {
	parts := strings.Split(strings.TrimSpace(traceparent), "-")
	if len(parts) < 4 || len(parts[1]) != 32 || strings.Trim(parts[1], "0") == "" {
		return "", false
	}
	if _, err := hex.DecodeString(parts[1]); err != nil {
		return "", false
	}
	return parts[1], true
}
