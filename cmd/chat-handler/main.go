// Command chat-handler answers ChatRequests on ai.chat.request with retrieval-augmented
// generation: ChatResponse on ai.result.chat.<request_id>, tokens live on ai.stream.<request_id>.
// Configuration: README.md.
package main

import (
	"os"

	"github.com/jetflow-dev/jetflow/internal/worker"
	"github.com/jetflow-dev/jetflow/workers/chat"
)

func main() { os.Exit(worker.Main("chat-handler", chat.Build)) }
