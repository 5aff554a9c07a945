package cli

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/internal/devkit/jstest"
	"github.com/jetflow-dev/jetflow/internal/devkit/natscli"
	"github.com/jetflow-dev/jetflow/internal/devkit/syncbuf"
	"github.com/jetflow-dev/jetflow/internal/envconfig"
	"github.com/jetflow-dev/jetflow/internal/stage"
	"github.com/jetflow-dev/jetflow/streams"
)

// shellWords splits a printed command line the way a POSIX shell would for the quoting the
// printed commands use (single quotes, plain words).
func shellWords(line string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord, quoted := false, false
	for _, r := range line {
		switch {
		case quoted:
			if r == '\'' {
				quoted = false
			} else {
				cur.WriteRune(r)
			}
		case r == '\'':
			quoted, inWord = true, true
		case r == ' ' || r == '\t':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if quoted {
		return nil, errors.New("unterminated quote")
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

// `jetflow dev` (what `make run` starts) prints how to ask a question with the nats CLI; the
// printed commands work as printed.
func TestDevPrintsCommandsThatWork(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the nats CLI")
	}
	var out, logs syncbuf.Buffer
	ctx := jstest.Context(t)
	lookup := envconfig.Map(map[string]string{})
	dataDir := t.TempDir()
	jstest.Run(t, ctx, func(ctx context.Context) error {
		if err := run(ctx, []string{"dev", "--data", dataDir, "--port", "-1", "--monitor", "-1", "--gateway-port", "-1"}, &out, &logs, lookup); err != nil {
			return fmt.Errorf("jetflow dev: %w\nlogs:\n%s", err, logs.String())
		}
		return nil
	})
	jstest.Eventually(t, 60*time.Second, 50*time.Millisecond, func() error {
		if !strings.Contains(out.String(), "Press Ctrl-C") {
			return errors.New("not started yet")
		}
		return nil
	})
	var commands [][]string
	for line := range strings.Lines(out.String()) {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "bin/nats ") {
			continue
		}
		words, err := shellWords(line)
		if err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		commands = append(commands, words)
	}
	if len(commands) < 3 {
		t.Fatalf("expected the printed nats commands, got:\n%s", out.String())
	}
	url := serverURL.FindStringSubmatch(out.String())
	if url == nil {
		t.Fatalf("no server URL printed:\n%s", out.String())
	}
	nats := []string{"bin/nats", "--server", url[1]}
	pub := slices.Concat(nats, []string{"pub", "ai.chat.request", `{"request_id":"demo-1","query":"How does KEDA scale the workers?"}`,
		"-H", "Content-Type:application/json", "--jetstream"})
	get := slices.Concat(nats, []string{"stream", "get", "AI_RESULTS", "-S", "ai.result.chat.demo-1"})
	sub := slices.Concat(nats, []string{"sub", "ai.stream.>"})
	view := slices.Concat(nats, []string{"stream", "view", "AI_DLQ"})
	if want := [][]string{pub, get, sub, view}; !slices.EqualFunc(commands, want, slices.Equal) {
		t.Fatalf("printed commands\n%q\nwant\n%q", commands, want)
	}

	cli := natscli.New(t, "")
	runPrinted := func(words []string) (string, error) {
		// words[0] is bin/nats, here the CLI the test built; the rest is used as printed.
		return cli.TryRaw(ctx, words[1:]...)
	}
	if got, err := runPrinted(pub); err != nil {
		t.Fatalf("%v: %v\n%s", pub, err, got)
	}
	var answer string
	jstest.Eventually(t, 60*time.Second, 200*time.Millisecond, func() error {
		got, err := runPrinted(get)
		if err != nil {
			return errors.New(got)
		}
		answer = got
		return nil
	})
	if !strings.Contains(answer, `"answer":"According to [source 1]:`) || !strings.Contains(answer, "KEDA") {
		t.Fatalf("the printed get shows no cited answer about KEDA:\n%s\nlogs:\n%s", answer, logs.String())
	}

	// The printed sub shows the tokens of a request that asks for them: it runs as printed
	// (with --count so that it ends) while requests with "stream_tokens":true are published
	// until one of them reaches it, as its start and a request's tokens may pass each other.
	subCtx, stopSub := context.WithTimeout(ctx, 60*time.Second)
	defer stopSub()
	type result struct {
		out string
		err error
	}
	subDone := make(chan result, 1)
	go func() {
		out, err := cli.TryRaw(subCtx, append(sub[1:], "--count=1")...)
		subDone <- result{out, err}
	}()
	var subbed result
	asked := 0
	jstest.Eventually(t, 60*time.Second, 300*time.Millisecond, func() error {
		select {
		case subbed = <-subDone:
			return nil
		default:
		}
		asked++
		tokens := slices.Clone(pub)
		tokens[5] = fmt.Sprintf(`{"request_id":"demo-tokens-%d","query":"How does KEDA scale the workers?","stream_tokens":true}`, asked)
		if got, err := runPrinted(tokens); err != nil {
			return fmt.Errorf("publishing a request with stream_tokens: %w: %s", err, got)
		}
		return errors.New("the printed sub has received nothing yet")
	})
	if subbed.err != nil || !strings.Contains(subbed.out, `Received on "ai.stream.demo-tokens-`) {
		t.Fatalf("the printed sub: %v\n%s", subbed.err, subbed.out)
	}

	// The printed stream view shows a dead letter: a request that is not JSON.
	poison := slices.Clone(pub)
	poison[5] = `{"request_id":"demo-bad",`
	if got, err := runPrinted(poison); err != nil {
		t.Fatalf("%v: %v\n%s", poison, err, got)
	}
	deadLetter := slices.Concat(nats, []string{"stream", "get", "AI_DLQ", "-S", streams.DeadLetterSubject(streams.ConsumerChatRetrieve)})
	jstest.Eventually(t, 30*time.Second, 200*time.Millisecond, func() error {
		if got, err := runPrinted(deadLetter); err != nil {
			return fmt.Errorf("no dead letter yet: %w: %s", err, got)
		}
		return nil
	})
	dead := cli.RunRawInTerminal(ctx, t, view[1:]...)
	if !strings.Contains(dead, `{"request_id":"demo-bad",`) || !strings.Contains(dead, stage.HeaderError) {
		t.Fatalf("the printed stream view shows no dead letter with its %s:\n%s", stage.HeaderError, dead)
	}
}

// serverURL finds the embedded server's URL in what `jetflow dev` prints.
var serverURL = regexp.MustCompile(`embedded JetStream at (\S+) `)

func TestShellWords(t *testing.T) {
	got, err := shellWords(`bin/nats pub s '{"a": "b c"}' -H K:V`)
	if err != nil || len(got) != 6 || got[3] != `{"a": "b c"}` {
		t.Fatalf("%q %v", got, err)
	}
}
