package pipeline

import (
	"slices"

	"github.com/jetflow-dev/jetflow/internal/envconfig"
	"github.com/jetflow-dev/jetflow/internal/worker"
)

// Env lists every variable Build reads besides the shell's, for pipeline-bridge --help.
var Env = []envconfig.Section{
	{Title: "Allow-list", Vars: []envconfig.Var{
		{Name: "PIPELINES_FILE", Required: true, Usage: "the pipelines that may start, with their parameters (YAML or JSON); or PIPELINES_JSON"},
		{Name: "PIPELINES_JSON", Usage: "the same allow-list inline, for development and tests"},
		{Name: "PIPELINE_BACKEND", Usage: "backend of the entries that name none: argo or kfp"},
	}},
	{Title: "Argo Workflows", Vars: []envconfig.Var{
		{Name: "KUBECONFIG", Default: "the in-cluster service account", Usage: "kubeconfig file"},
		{Name: "ARGO_NAMESPACE", Default: DefaultArgoNamespace, Usage: "namespace of the Workflows and their WorkflowTemplates"},
		{Name: "KUBERNETES_SERVICE_HOST", Usage: "the API server, in a cluster (set by Kubernetes, with KUBERNETES_SERVICE_PORT)", ReadBy: "client-go"},
	}},
	{Title: "Kubeflow Pipelines", Vars: []envconfig.Var{
		{Name: "KFP_URL", Usage: "KFP API base URL; required when a pipeline uses kfp"},
		{Name: "KFP_TOKEN", Usage: "bearer token (never logged)"},
		{Name: "KFP_TOKEN_FILE", Usage: "file holding the bearer token, re-read when it changes"},
		{Name: "KFP_NAMESPACE", Usage: "namespace sent with run listings (multi-user KFP)"},
	}},
	{Title: "Following runs", Vars: slices.Concat([]envconfig.Var{
		{Name: "PIPELINE_POLL_INTERVAL", Default: DefaultPollInterval, Usage: "how often a followed run is read"},
		{Name: "PIPELINE_TIMEOUT", Default: DefaultTimeout, Usage: "how long one trigger's run is followed"},
		{Name: "PIPELINE_CALL_TIMEOUT", Default: DefaultCallTimeout, Usage: "limit on one call to Kubernetes or KFP"},
		{Name: "PIPELINE_CONCURRENCY", Default: DefaultConcurrency, Usage: "triggers handled (runs followed) at once"},
		{Name: "PIPELINE_GRACE_PERIOD", Default: DefaultGracePeriod, Usage: "time in-flight handlers get at shutdown"},
		{Name: "PIPELINE_RETRY_BACKOFF", Default: "the runtime's", Usage: "retry schedule of the stage, comma-separated durations"},
	}, worker.BreakerEnv("PIPELINE", "breaker of Kubernetes and KFP"))},
}
