// Command gateway serves jetflow's Connect services (ChatService, SpeechService, VoiceService,
// PipelineService, AdminService) to applications over Connect, gRPC, gRPC-Web and plain
// HTTP+JSON on one port, publishing each call into JetStream and answering from AI_RESULTS.
// Callers need an API key (GATEWAY_KEYS_FILE) or a client certificate.
//
// `gateway --help` lists every environment variable it reads and its exit codes.
package main

import (
	"os"

	"github.com/jetflow-dev/jetflow/internal/gateway"
	"github.com/jetflow-dev/jetflow/internal/worker"
)

// summary is what --help says the binary does.
const summary = "serves jetflow's Connect services (Chat, Speech, Voice, Pipeline, Admin) over Connect, gRPC, gRPC-Web and HTTP+JSON on GATEWAY_ADDR to callers with an API key or a client certificate: each call is validated, published into JetStream with a Nats-Msg-Id from its request id (a retry runs once) and answered from the durable result in AI_RESULTS; gRPC health (no key needed) and reflection on the same port."

func main() {
	os.Exit(worker.Command{Name: "gateway", Summary: summary, Env: gateway.CommandEnv, Build: gateway.Build(gateway.Authentication, gateway.ServePage)}.Main())
}
