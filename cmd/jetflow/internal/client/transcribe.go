package client

import (
	"context"
	"encoding/binary"
	"flag"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"time"

	"github.com/jetflow-dev/jetflow/internal/upstream/transcribe"
	jetflowv1 "github.com/jetflow-dev/jetflow/proto/jetflow/v1"
	"github.com/jetflow-dev/jetflow/proto/jetflow/v1/jetflowv1connect"
)

const transcribeHelp = `jetflow transcribe [flags] FILE.wav: send a WAV file (16-bit PCM, mono or stereo, 8000..48000 Hz)
through the gateway to the speech-to-text worker as one audio stream and print its transcript, one
line per speech segment. Stereo is mixed down to mono. A segment skipped for missing audio is
reported on standard error.

  jetflow transcribe meeting.wav
  jetflow transcribe --language en --chunk 500ms meeting.wav
` + envHelp

// Transcribe runs `jetflow transcribe ARGS`.
func Transcribe(ctx context.Context, args []string, env Env) error {
	fs := flag.NewFlagSet("jetflow transcribe", flag.ContinueOnError)
	gwFlags := addGatewayFlags(fs, 5*time.Minute)
	language := fs.String("language", "", `BCP 47 language of the speech ("en"); empty = detect`)
	session := fs.String("session", "", "audio stream id ([A-Za-z0-9_-]{1,128}; default: a new one)")
	chunkLength := fs.Duration("chunk", time.Second, "audio per chunk sent, 20ms..5s")
	rest, err := parseArgs(fs, args, env.Stdout, transcribeHelp)
	if err != nil {
		return err
	}
	switch {
	case len(rest) != 1:
		return usageErrorf("jetflow transcribe takes one WAV file, got %d arguments: jetflow transcribe meeting.wav", len(rest))
	case *session != "" && !sessionID.MatchString(*session):
		return usageErrorf("--session must match [A-Za-z0-9_-]{1,100} (each chunk's id is SESSION-N), got %q", *session)
	case *chunkLength < 20*time.Millisecond || *chunkLength > 5*time.Second:
		return usageErrorf("--chunk must be 20ms..5s, got %s", *chunkLength)
	}
	gw, err := gwFlags.resolve(env)
	if err != nil {
		return err
	}
	file := rest[0]
	data, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("reading the audio: %w", err)
	}
	pcm, rate, channels, err := transcribe.DecodeWAV(data)
	if err != nil {
		return fmt.Errorf("reading %s: %w (convert it with: ffmpeg -i %s -ac 1 -ar 16000 -sample_fmt s16 out.wav)", file, err, file)
	}
	pcm = mono(pcm, channels)
	if len(pcm) == 0 {
		return fmt.Errorf("reading %s: the file holds no samples", file)
	}
	id := *session
	if id == "" {
		id = newRequestID("cli")
	}
	ctx, cancel := context.WithTimeout(ctx, gw.timeout)
	defer cancel()
	speech := jetflowv1connect.NewSpeechServiceClient(gw.httpClient(), gw.url)
	stream, err := speech.Transcribe(ctx)
	if err != nil {
		return callError("opening the audio stream", gw, err)
	}
	for _, chunk := range chunks(id, pcm, rate, chunkBytes(rate, *chunkLength), *language) {
		if err := stream.Send(&jetflowv1.TranscribeRequest{Chunk: chunk}); err != nil {
			break // the gateway ended the call: CloseAndReceive returns why
		}
	}
	resp, err := stream.CloseAndReceive()
	if err != nil {
		return callError("transcribing "+file, gw, err)
	}
	for _, t := range resp.GetTranscripts() {
		switch t.GetKind() {
		case jetflowv1.Transcript_KIND_GAP:
			fmt.Fprintf(env.Stderr, "segment %d: audio missing (%d gaps), skipped\n", t.GetSegmentId(), len(t.GetGaps()))
		default:
			fmt.Fprintln(env.Stdout, t.GetText())
		}
	}
	return nil
}

// sessionID leaves room in the 128 characters of a request id for each chunk's -N.
var sessionID = regexp.MustCompile(`^[A-Za-z0-9_-]{1,100}$`)

// chunkBytes is the size of length of mono PCM16 at rate, whole samples, within the 512 KiB a
// chunk may carry.
func chunkBytes(rate int, length time.Duration) int {
	n := int(int64(rate)*int64(length)/int64(time.Second)) * 2
	return max(2, min(n, 512<<10))
}

// chunks cuts mono PCM16 into the session's audio chunks, the last one marked end_of_stream.
func chunks(session string, pcm []byte, rate, size int, language string) []*jetflowv1.SttAudioChunk {
	var out []*jetflowv1.SttAudioChunk
	for seq := 0; len(pcm) > 0; seq++ {
		n := min(size, len(pcm))
		out = append(out, &jetflowv1.SttAudioChunk{
			RequestId: session + "-" + strconv.Itoa(seq), SessionId: session, Sequence: int64(seq),
			Pcm: pcm[:n], SampleRate: int32(rate), Language: language, EndOfStream: n == len(pcm),
		})
		pcm = pcm[n:]
	}
	return out
}

// mono mixes interleaved PCM16 frames of channels channels down to one by averaging.
func mono(pcm []byte, channels int) []byte {
	if channels <= 1 {
		return pcm
	}
	frame := 2 * channels
	out := make([]byte, 0, len(pcm)/channels)
	for i := 0; i+frame <= len(pcm); i += frame {
		sum := 0
		for c := range channels {
			sum += int(int16(binary.LittleEndian.Uint16(pcm[i+2*c:])))
		}
		out = binary.LittleEndian.AppendUint16(out, uint16(int16(sum/channels)))
	}
	return out
}
