package footprint

import "time"

// DefaultBudgets are issue 15's budgets: the design record's promise (~15 MB of memory, 15-30 MB
// images, instant start) as measured limits. Binary size and idle memory follow what a worker
// links on top of the runtime, NATS, OpenTelemetry and one model client (stt-module,
// tts-module): chat-handler and voice-assistant add the Milvus gRPC API and the RAG clients
// (embedding, rerank); pipeline-bridge adds client-go, the Kubernetes client users expect
// (in-cluster config, kubeconfig, auth plugins). The gateway links connect-go and the schema
// instead of a model client, and is held to the small workers' budget. A binary without a row
// is held to Default, the small workers' budget, until it is given its own.
var DefaultBudgets = Budgets{
	Default: Budget{Size: 20 * MiB, IdleRSS: 20 * MiB, LoadRSS: 32 * MiB, Ready: 50 * time.Millisecond},
	Workers: map[string]Budget{
		"chat-handler":    {Size: 22 * MiB, IdleRSS: 22 * MiB, LoadRSS: 32 * MiB, Ready: 50 * time.Millisecond},
		"voice-assistant": {Size: 22 * MiB, IdleRSS: 22 * MiB, LoadRSS: 32 * MiB, Ready: 50 * time.Millisecond},
		"stt-module":      {Size: 20 * MiB, IdleRSS: 20 * MiB, LoadRSS: 32 * MiB, Ready: 50 * time.Millisecond},
		"tts-module":      {Size: 20 * MiB, IdleRSS: 20 * MiB, LoadRSS: 32 * MiB, Ready: 50 * time.Millisecond},
		"pipeline-bridge": {Size: 25 * MiB, IdleRSS: 24 * MiB, LoadRSS: 32 * MiB, Ready: 50 * time.Millisecond},
		"gateway":         {Size: 20 * MiB, IdleRSS: 20 * MiB, LoadRSS: 32 * MiB, Ready: 50 * time.Millisecond},
	},
}
