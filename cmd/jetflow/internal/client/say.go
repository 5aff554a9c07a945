package client

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"connectrpc.com/connect"

	"github.com/jetflow-dev/jetflow/internal/upstream/transcribe"
	jetflowv1 "github.com/jetflow-dev/jetflow/proto/jetflow/v1"
	"github.com/jetflow-dev/jetflow/proto/jetflow/v1/jetflowv1connect"
)

const sayHelp = `jetflow say [flags] TEXT... -o FILE.wav: speak the text through the gateway and write the audio
as a WAV file (-o - writes it to standard output). The words of TEXT are joined with spaces.

  jetflow say "Hello from jetflow." -o hello.wav
  jetflow say --voice alloy --speed 1.2 "A little faster." -o fast.wav
` + envHelp

// defaultSampleRate is the rate of raw PCM16 audio whose chunk does not say its own.
const defaultSampleRate = 24000

// Say runs `jetflow say ARGS`.
func Say(ctx context.Context, args []string, env Env) error {
	fs := flag.NewFlagSet("jetflow say", flag.ContinueOnError)
	gwFlags := addGatewayFlags(fs, time.Minute)
	output := fs.String("o", "", "WAV file to write (required; - for standard output)")
	voice := fs.String("voice", "", "voice id (default: the worker's default voice)")
	speed := fs.Float64("speed", 0, "speaking rate, 0.25..4 (0: normal)")
	rest, err := parseArgs(fs, args, env.Stdout, sayHelp)
	if err != nil {
		return err
	}
	words := text(rest)
	switch {
	case words == "":
		return usageErrorf("jetflow say needs the text to speak: jetflow say \"Hello.\" -o hello.wav")
	case *output == "":
		return usageErrorf("jetflow say needs -o FILE.wav (or -o - for standard output)")
	case *speed != 0 && (*speed < 0.25 || *speed > 4):
		return usageErrorf("--speed must be 0.25..4, got %g", *speed)
	}
	gw, err := gwFlags.resolve(env)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, gw.timeout)
	defer cancel()
	speech := jetflowv1connect.NewSpeechServiceClient(gw.httpClient(), gw.url)
	stream, err := speech.Synthesize(ctx, &jetflowv1.SynthesizeRequest{Request: &jetflowv1.TtsRequest{
		RequestId: newRequestID("cli"), Text: words, Voice: *voice, Speed: float32(*speed),
		Format: &jetflowv1.AudioFormat{Encoding: jetflowv1.AudioFormat_ENCODING_WAV},
	}})
	if err != nil {
		return callError("speaking the text", gw, err)
	}
	defer stream.Close()
	var audio []byte
	var format *jetflowv1.AudioFormat
	last := false
	for stream.Receive() {
		chunk := stream.Msg().GetChunk()
		audio = append(audio, chunk.GetAudio()...)
		if chunk.GetFormat() != nil {
			format = chunk.GetFormat()
		}
		last = last || chunk.GetLast()
	}
	if err := stream.Err(); err != nil {
		return callError("receiving the audio", gw, err)
	}
	if !last {
		return callError("receiving the audio", gw, connect.NewError(connect.CodeInternal,
			fmt.Errorf("the stream ended after %d bytes without the last chunk", len(audio))))
	}
	wav, err := asWAV(audio, format)
	if err != nil {
		return err
	}
	if *output == "-" {
		if _, err := env.Stdout.Write(wav); err != nil {
			return fmt.Errorf("writing the audio to standard output: %w", err)
		}
		return nil
	}
	if err := writeFile(*output, wav); err != nil {
		return err
	}
	fmt.Fprintf(env.Stderr, "wrote %s: %d bytes of WAV audio\n", *output, len(wav))
	return nil
}

// asWAV returns the audio as a WAV file: as it came when it is one, wrapped in a WAV header
// when it is raw PCM16. The worker was asked for WAV, so another encoding is an error.
func asWAV(audio []byte, format *jetflowv1.AudioFormat) ([]byte, error) {
	switch enc := format.GetEncoding(); enc {
	case jetflowv1.AudioFormat_ENCODING_WAV:
		return audio, nil
	case jetflowv1.AudioFormat_ENCODING_PCM16, jetflowv1.AudioFormat_ENCODING_UNSPECIFIED:
		rate := int(format.GetSampleRate())
		if rate == 0 {
			rate = defaultSampleRate
		}
		wav, err := transcribe.EncodeWAV(audio, rate)
		if err != nil {
			return nil, fmt.Errorf("wrapping the PCM16 audio in a WAV header: %w", err)
		}
		return wav, nil
	default:
		return nil, fmt.Errorf("the gateway answered with %s audio where WAV was asked for; jetflow say writes WAV only", enc)
	}
}

// writeFile writes data to path through a temporary file beside it, so an interrupted run
// leaves no half-written audio under the name asked for.
func writeFile(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("creating %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
