package cli

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/internal/envconfig"
	"github.com/jetflow-dev/jetflow/internal/jstest"
	"github.com/jetflow-dev/jetflow/internal/natscli"
	"github.com/jetflow-dev/jetflow/internal/syncbuf"
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
	ctx, cancel := context.WithCancel(jstest.Context(t))
	done := make(chan error, 1)
	lookup := envconfig.Map(map[string]string{})
	go func() {
		done <- run(ctx, []string{"dev", "--data", t.TempDir(), "--port", "-1", "--monitor", "-1"}, &out, &logs, lookup)
	}()
	defer func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("jetflow dev: %v\nlogs:\n%s", err, logs.String())
			}
		case <-time.After(60 * time.Second):
			t.Error("jetflow dev did not stop")
		}
	}()
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
	cli := natscli.New(t, "")
	runPrinted := func(words []string) (string, error) {
		// words[0] is bin/nats, here the CLI the test built; the rest is used as printed.
		return cli.TryRaw(ctx, words[1:]...)
	}
	pub, get := commands[0], commands[1]
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
}

func TestShellWords(t *testing.T) {
	got, err := shellWords(`bin/nats pub s '{"a": "b c"}' -H K:V`)
	if err != nil || len(got) != 6 || got[3] != `{"a": "b c"}` {
		t.Fatalf("%q %v", got, err)
	}
}
