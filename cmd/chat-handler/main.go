// Command chat-handler answers ChatRequests on ai.chat.request with retrieval-augmented
// generation: ChatResponse on ai.result.chat.<request_id>, tokens live on ai.stream.<request_id>.
//
// `chat-handler --help` lists every environment variable it reads and its exit codes.
package main

import (
	"os"

	"github.com/jetflow-dev/jetflow/internal/worker"
	"github.com/jetflow-dev/jetflow/workers/chat"
)

// summary is what --help says the binary does.
const summary = "answers ChatRequests on ai.chat.request with retrieval-augmented generation, in two durable stages (chat-retrieve, chat-generate): a ChatResponse on ai.result.chat.<request_id>, tokens live on ai.stream.<request_id>."

func main() {
	os.Exit(worker.Command{Name: "chat-handler", Summary: summary, Env: chat.Env, Build: chat.Build}.Main())
}
