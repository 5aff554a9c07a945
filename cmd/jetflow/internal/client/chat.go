package client

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"connectrpc.com/connect"

	jetflowv1 "github.com/jetflow-dev/jetflow/proto/jetflow/v1"
	"github.com/jetflow-dev/jetflow/proto/jetflow/v1/jetflowv1connect"
)

const chatHelp = `jetflow chat [flags] QUESTION...: ask the gateway a question. The answer's tokens are printed
as they come, then the sources it was grounded on. The words of QUESTION are joined with spaces.

  jetflow chat "How does KEDA scale the workers?"
  jetflow chat --no-rag --timeout 30s what is JetStream
` + envHelp

// Chat runs `jetflow chat ARGS`.
func Chat(ctx context.Context, args []string, env Env) error {
	fs := flag.NewFlagSet("jetflow chat", flag.ContinueOnError)
	gwFlags := addGatewayFlags(fs, 2*time.Minute)
	session := fs.String("session", "", "conversation id ([A-Za-z0-9_-]{0,128}); empty for a one-off question")
	requestID := fs.String("request-id", "", "request id; the same id again returns the same answer without a second run (default: a new one)")
	noRAG := fs.Bool("no-rag", false, "answer from the model alone, without retrieval")
	topK := fs.Int("top-k", 0, "passages to retrieve, 0..100 (0: the worker's default)")
	rest, err := parseArgs(fs, args, env.Stdout, chatHelp)
	if err != nil {
		return err
	}
	question := text(rest)
	if question == "" {
		return usageErrorf("jetflow chat needs a question: jetflow chat \"How does KEDA scale the workers?\"")
	}
	if *topK < 0 || *topK > 100 {
		return usageErrorf("--top-k must be 0..100, got %d", *topK)
	}
	gw, err := gwFlags.resolve(env)
	if err != nil {
		return err
	}
	id := *requestID
	if id == "" {
		id = newRequestID("cli")
	}
	req := &jetflowv1.ChatStreamRequest{Request: &jetflowv1.ChatRequest{
		RequestId: id, SessionId: *session, Query: question, DisableRag: *noRAG, TopK: int32(*topK),
	}}
	ctx, cancel := context.WithTimeout(ctx, gw.timeout)
	defer cancel()
	chat := jetflowv1connect.NewChatServiceClient(gw.httpClient(), gw.url)
	stream, err := chat.ChatStream(ctx, req)
	if err != nil {
		return callError("asking the question", gw, err)
	}
	defer stream.Close()
	var streamed strings.Builder
	var final *jetflowv1.ChatResponse
	for stream.Receive() {
		switch ev := stream.Msg().GetEvent().(type) {
		case *jetflowv1.ChatStreamResponse_Token:
			streamed.WriteString(ev.Token.GetText())
			if _, err := io.WriteString(env.Stdout, ev.Token.GetText()); err != nil {
				return fmt.Errorf("printing the answer: %w", err)
			}
		case *jetflowv1.ChatStreamResponse_Response:
			final = ev.Response
		}
	}
	if err := stream.Err(); err != nil {
		if streamed.Len() > 0 {
			fmt.Fprintln(env.Stdout)
		}
		return callError("asking the question", gw, err)
	}
	if final == nil {
		return callError("asking the question", gw, connect.NewError(connect.CodeInternal,
			fmt.Errorf("the stream of request %s ended without the final answer", id)))
	}
	printAnswer(env.Stdout, env.Stderr, streamed.String(), final)
	return nil
}

// printAnswer ends what the tokens printed: the final answer where the live tokens missed some
// of it (they are at-most-once), then the sources.
func printAnswer(stdout, stderr io.Writer, streamed string, final *jetflowv1.ChatResponse) {
	switch {
	case streamed == "":
		fmt.Fprintln(stdout, final.GetAnswer())
	case streamed != final.GetAnswer():
		fmt.Fprintln(stdout)
		fmt.Fprintln(stderr, "(some live tokens were lost on the way; the complete answer:)")
		fmt.Fprintln(stdout, final.GetAnswer())
	default:
		fmt.Fprintln(stdout)
	}
	if sources := final.GetSources(); len(sources) > 0 {
		fmt.Fprintln(stdout, "\nSources:")
		for i, s := range sources {
			fmt.Fprintf(stdout, "  [%d] %s\n", i+1, sourceLine(s))
		}
	}
	by := final.GetModel()
	if final.GetStandIn() {
		by += " (a stand-in model: jetflow dev without LLM_URL)"
	}
	if by != "" {
		fmt.Fprintf(stderr, "answered by %s, request %s\n", by, final.GetRequestId())
	}
}

// sourceLine is one source: its title (or id), where it is from, its score and the start of
// its text.
func sourceLine(s *jetflowv1.Source) string {
	title, where := s.GetMetadata()["title"], s.GetCollection()
	if title == "" {
		title = s.GetId()
	} else if s.GetId() != "" {
		where = strings.TrimSpace(where + " #" + s.GetId())
	}
	if where != "" {
		where += ", "
	}
	line := fmt.Sprintf("%s (%sscore %.3f)", title, where, s.GetScore())
	if u := s.GetMetadata()["url"]; u != "" {
		line += " " + u
	}
	if passage := oneLine(s.GetText(), 160); passage != "" {
		line += "\n      " + passage
	}
	return line
}

// oneLine is text on one line, cut to at most n runes with an ellipsis.
func oneLine(text string, n int) string {
	text = strings.Join(strings.Fields(text), " ")
	if r := []rune(text); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return text
}
