package client

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/internal/envconfig"
	"github.com/jetflow-dev/jetflow/internal/upstream/transcribe"
	jetflowv1 "github.com/jetflow-dev/jetflow/proto/jetflow/v1"
)

func TestChatPrintsTokensThenSources(t *testing.T) {
	g, url := newTestGateway(t)
	stdout, stderr, err := run(t, Chat, url, testKey, "How", "does", "KEDA", "scale?", "--session", "s-1")
	if err != nil {
		t.Fatalf("chat: %v\n%s", err, stderr)
	}
	want := "According to [source 1]: KEDA scales on consumer lag.\n\nSources:\n" +
		"  [1] Autoscaling (docs #7, score 0.910)\n      KEDA scales workers on lag.\n" +
		"  [2] 9 (docs, score 0.500)\n      JetStream keeps messages.\n"
	if stdout != want {
		t.Errorf("stdout:\n%s\nwant:\n%s", stdout, want)
	}
	if !strings.Contains(stderr, "answered by stand-in (a stand-in model") {
		t.Errorf("stderr %q does not say a stand-in answered", stderr)
	}
	if len(g.chats) != 1 || g.chats[0].GetQuery() != "How does KEDA scale?" || g.chats[0].GetSessionId() != "s-1" ||
		!strings.HasPrefix(g.chats[0].GetRequestId(), "cli-") {
		t.Errorf("the gateway was asked %v", g.chats)
	}
}

// Live tokens are at-most-once: where some were lost, the durable answer is printed whole.
func TestChatPrintsTheFinalAnswerWhenTokensWereLost(t *testing.T) {
	g, url := newTestGateway(t)
	g.tokens = []string{"According", " to"}
	stdout, stderr, err := run(t, Chat, url, testKey, "q")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(stdout, "According to\n"+g.answer+"\n") || !strings.Contains(stderr, "some live tokens were lost") {
		t.Errorf("stdout %q stderr %q", stdout, stderr)
	}
}

func TestChatRetriesWithTheSameRequestID(t *testing.T) {
	g, url := newTestGateway(t)
	for range 2 {
		if _, _, err := run(t, Chat, url, testKey, "--request-id", "retry-1", "q"); err != nil {
			t.Fatal(err)
		}
	}
	if len(g.chats) != 2 || g.chats[0].GetRequestId() != "retry-1" || g.chats[1].GetRequestId() != "retry-1" {
		t.Errorf("requests %v", g.chats)
	}
}

// Each refusal says what to do.
func TestErrorsSayWhatToDo(t *testing.T) {
	_, url := newTestGateway(t)
	tests := []struct {
		name, url, key string
		args           []string
		usage          bool
		want           string
	}{
		{"no key", url, "", []string{"q"}, false, "set JETFLOW_API_KEY (jetflow dev prints a development key)"},
		{"wrong key", url, "jf_wrong", []string{"q"}, false, "refused the key in JETFLOW_API_KEY"},
		{"no gateway", "http://127.0.0.1:1", testKey, []string{"q"}, false, "cannot reach the gateway at http://127.0.0.1:1: start it with make run"},
		{"invalid request", url, testKey, []string{"--session", "no spaces", "q"}, false, "correct the field it names"},
		{"bad timeout", url, testKey, []string{"--timeout", "0s", "q"}, true, "--timeout must be positive"},
		{"bad top-k", url, testKey, []string{"--top-k", "101", "q"}, true, "--top-k must be 0..100"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := run(t, Chat, tt.url, tt.key, tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.want) || errors.Is(err, ErrUsage) != tt.usage {
				t.Fatalf("error %v; want one containing %q (usage error: %v)", err, tt.want, tt.usage)
			}
		})
	}
}

func TestSayWritesWAV(t *testing.T) {
	tests := []struct {
		name   string
		format *jetflowv1.AudioFormat
		audio  []byte
	}{
		{"raw PCM16 gets a WAV header", &jetflowv1.AudioFormat{Encoding: jetflowv1.AudioFormat_ENCODING_PCM16, SampleRate: 16000}, []byte{1, 0, 2, 0, 3, 0, 4, 0}},
		{"WAV is kept as it came", &jetflowv1.AudioFormat{Encoding: jetflowv1.AudioFormat_ENCODING_WAV}, mustWAV(t, []byte{9, 0, 8, 0}, 22050)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, url := newTestGateway(t)
			g.ttsFormat, g.ttsAudio = tt.format, tt.audio
			out := filepath.Join(t.TempDir(), "out.wav")
			_, stderr, err := run(t, Say, url, testKey, "Hello", "there.", "-o", out, "--voice", "alloy")
			if err != nil {
				t.Fatalf("say: %v", err)
			}
			wav, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			pcm, rate, channels, err := transcribe.DecodeWAV(wav)
			if err != nil || channels != 1 {
				t.Fatalf("out.wav: %v, %d channels", err, channels)
			}
			if tt.format.GetEncoding() == jetflowv1.AudioFormat_ENCODING_PCM16 && (!bytes.Equal(pcm, tt.audio) || rate != 16000) {
				t.Errorf("PCM %v at %d Hz, want %v at 16000", pcm, rate, tt.audio)
			}
			if tt.format.GetEncoding() == jetflowv1.AudioFormat_ENCODING_WAV && !bytes.Equal(wav, tt.audio) {
				t.Errorf("the WAV was changed")
			}
			if !strings.Contains(stderr, "wrote "+out) {
				t.Errorf("stderr %q", stderr)
			}
			req := g.tts[0]
			if req.GetText() != "Hello there." || req.GetVoice() != "alloy" || req.GetFormat().GetEncoding() != jetflowv1.AudioFormat_ENCODING_WAV {
				t.Errorf("the gateway was asked %v", req)
			}
		})
	}
}

func TestSayToStandardOutput(t *testing.T) {
	_, url := newTestGateway(t)
	stdout, _, err := run(t, Say, url, testKey, "-o", "-", "Hi.")
	if err != nil || !strings.HasPrefix(stdout, "RIFF") {
		t.Fatalf("say -o -: %v, output starts %q", err, stdout[:min(4, len(stdout))])
	}
}

func TestTranscribeSendsTheFileAsOneStream(t *testing.T) {
	g, url := newTestGateway(t)
	// 0.25 s of stereo at 8000 Hz: 2000 frames, mixed down to 4000 bytes of mono, sent in
	// 100 ms chunks of 1600 bytes.
	stereo := make([]byte, 0, 8000)
	for i := range 2000 {
		stereo = binary.LittleEndian.AppendUint16(stereo, uint16(int16(i)))
		stereo = binary.LittleEndian.AppendUint16(stereo, uint16(int16(i+2)))
	}
	file := filepath.Join(t.TempDir(), "in.wav")
	if err := os.WriteFile(file, stereoWAV(stereo, 8000), 0o600); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, err := run(t, Transcribe, url, testKey, file, "--chunk", "100ms", "--language", "en", "--session", "meeting-1")
	if err != nil {
		t.Fatalf("transcribe: %v", err)
	}
	if stdout != "4000 bytes at 8000 Hz\n" || !strings.Contains(stderr, "segment 1: audio missing") {
		t.Errorf("stdout %q stderr %q", stdout, stderr)
	}
	var sizes []int
	for i, c := range g.sttChunks {
		sizes = append(sizes, len(c.GetPcm()))
		if c.GetSequence() != int64(i) || c.GetSessionId() != "meeting-1" || c.GetLanguage() != "en" || c.GetEndOfStream() != (i == len(g.sttChunks)-1) {
			t.Errorf("chunk %d: %v", i, c)
		}
	}
	if !slices.Equal(sizes, []int{1600, 1600, 800}) {
		t.Errorf("chunk sizes %v", sizes)
	}
	// The first mono sample averages 0 and 2.
	if first := int16(binary.LittleEndian.Uint16(g.sttChunks[0].GetPcm())); first != 1 {
		t.Errorf("first mono sample %d, want 1", first)
	}
}

func TestTranscribeRefusesWhatIsNotWAV(t *testing.T) {
	_, url := newTestGateway(t)
	file := filepath.Join(t.TempDir(), "in.mp3")
	if err := os.WriteFile(file, []byte("ID3 not a wav"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, _, err := run(t, Transcribe, url, testKey, file)
	if err == nil || !strings.Contains(err.Error(), "convert it with: ffmpeg") {
		t.Fatalf("error %v", err)
	}
}

func TestPipelineStart(t *testing.T) {
	g, url := newTestGateway(t)
	stdout, _, err := run(t, Pipeline, url, testKey, "start", "reindex", "collection=docs", "since=2026-01-01")
	if err != nil {
		t.Fatalf("pipeline start: %v", err)
	}
	want := "PENDING   reindex run reindex-abc (argo): phase_pending\n" +
		"RUNNING   reindex run reindex-abc (argo): phase_running\n" +
		"SUCCEEDED reindex run reindex-abc (argo): phase_succeeded\n"
	if stdout != want {
		t.Errorf("stdout:\n%s\nwant:\n%s", stdout, want)
	}
	if tr := g.triggers[0]; tr.GetPipeline() != "reindex" || tr.GetParameters()["collection"] != "docs" || tr.GetParameters()["since"] != "2026-01-01" {
		t.Errorf("trigger %v", tr)
	}

	g.phases = []jetflowv1.PipelineStatus_Phase{jetflowv1.PipelineStatus_PHASE_RUNNING, jetflowv1.PipelineStatus_PHASE_FAILED}
	if _, _, err := run(t, Pipeline, url, testKey, "start", "reindex"); !errors.Is(err, ErrRunFailed) {
		t.Errorf("a failed run: %v, want ErrRunFailed", err)
	}
	g.phases = []jetflowv1.PipelineStatus_Phase{jetflowv1.PipelineStatus_PHASE_RUNNING}
	if _, _, err := run(t, Pipeline, url, testKey, "start", "--request-id", "nightly", "reindex"); err == nil || !strings.Contains(err.Error(), "--request-id nightly to follow it again") {
		t.Errorf("a call that ended mid-run: %v", err)
	}
}

func TestParseArgsAnywhere(t *testing.T) {
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	o := fs.String("o", "", "")
	v := fs.Bool("v", false, "")
	rest, err := parseArgs(fs, []string{"a", "-o", "f.wav", "b", "-v", "--", "-c", "d"}, &bytes.Buffer{}, "")
	if err != nil || *o != "f.wav" || !*v || !slices.Equal(rest, []string{"a", "b", "-c", "d"}) {
		t.Fatalf("rest %q o %q v %v err %v", rest, *o, *v, err)
	}
}

func TestGatewayResolution(t *testing.T) {
	tests := []struct {
		name, flag string
		env        map[string]string
		want       string
	}{
		{"the default is jetflow dev's", "", nil, DefaultGateway},
		{"the environment", "", map[string]string{"JETFLOW_GATEWAY": "https://gw.example:8443/"}, "https://gw.example:8443"},
		{"the flag wins", "http://other:1", map[string]string{"JETFLOW_GATEWAY": "https://gw.example"}, "http://other:1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &gatewayFlags{url: tt.flag, timeout: time.Second}
			gw, err := f.resolve(Env{Lookup: envconfig.Map(tt.env), DevKeyFile: filepath.Join(t.TempDir(), "none")})
			if err != nil || gw.url != tt.want {
				t.Fatalf("%q %v, want %q", gw.url, err, tt.want)
			}
		})
	}
	if !strings.HasSuffix(DefaultGateway, ":"+strconv.Itoa(DefaultGatewayPort)) {
		t.Errorf("DefaultGateway %s is not on DefaultGatewayPort %d", DefaultGateway, DefaultGatewayPort)
	}
}

func mustWAV(t *testing.T, pcm []byte, rate int) []byte {
	t.Helper()
	wav, err := transcribe.EncodeWAV(pcm, rate)
	if err != nil {
		t.Fatal(err)
	}
	return wav
}

// stereoWAV wraps interleaved two-channel PCM16 in a WAV header.
func stereoWAV(pcm []byte, rate int) []byte {
	le := binary.LittleEndian
	b := []byte("RIFF")
	b = le.AppendUint32(b, uint32(36+len(pcm)))
	b = append(b, "WAVEfmt "...)
	b = le.AppendUint32(b, 16)
	b = le.AppendUint16(b, 1)
	b = le.AppendUint16(b, 2)
	b = le.AppendUint32(b, uint32(rate))
	b = le.AppendUint32(b, uint32(rate*4))
	b = le.AppendUint16(b, 4)
	b = le.AppendUint16(b, 16)
	b = append(b, "data"...)
	b = le.AppendUint32(b, uint32(len(pcm)))
	return append(b, pcm...)
}

// Without JETFLOW_API_KEY, a gateway on this machine gets the key jetflow dev wrote; one
// elsewhere gets none.
func TestDevKeyFile(t *testing.T) {
	keyFile := filepath.Join(t.TempDir(), "dev-api-key")
	if err := os.WriteFile(keyFile, []byte("jf_dev\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, url string
		env       map[string]string
		key, from string
	}{
		{"loopback address", "http://127.0.0.1:8081", nil, "jf_dev", keyFile},
		{"localhost", "http://localhost:9", nil, "jf_dev", keyFile},
		{"the environment wins", "http://127.0.0.1:8081", map[string]string{"JETFLOW_API_KEY": "jf_env"}, "jf_env", "JETFLOW_API_KEY"},
		{"another machine", "https://gw.example", nil, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &gatewayFlags{url: tt.url, timeout: time.Second}
			gw, err := f.resolve(Env{Lookup: envconfig.Map(tt.env), DevKeyFile: keyFile})
			if err != nil || gw.key != tt.key || gw.keyFrom != tt.from {
				t.Fatalf("key %q from %q (%v), want %q from %q", gw.key, gw.keyFrom, err, tt.key, tt.from)
			}
		})
	}
}
