package pipeline

import (
	"context"
	"fmt"
	"net/http"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/jetflow-dev/jetflow/internal/envconfig"
	"github.com/jetflow-dev/jetflow/internal/worker"
)

// userAgent names the bridge in the Kubernetes audit log and KFP's access log.
const userAgent = "jetflow-pipeline-bridge"

// Build assembles the pipeline-bridge worker from the environment:
//
//   - PIPELINES_FILE (a YAML or JSON allow-list, see AllowList) or PIPELINES_JSON (the same
//     inline, for development and tests); exactly one is required.
//   - PIPELINE_BACKEND: the backend of allow-list entries that name none (argo or kfp).
//   - Argo, when a pipeline uses it: KUBECONFIG (a kubeconfig file) or, unset, the in-cluster
//     service account; ARGO_NAMESPACE.
//   - KFP, when a pipeline uses it: KFP_URL (required), KFP_TOKEN or KFP_TOKEN_FILE (a bearer
//     token, or a file holding one, re-read when it changes; neither sends none),
//     KFP_NAMESPACE; and the KV bucket RunsBucket (pipeline-runs, from streams/), where
//     replicas claim run names so that a trigger handled twice at once creates one run.
//   - The tuning read by SettingsFromEnv, and PIPELINE_BREAKER_*.
func Build(ctx context.Context, env *worker.Env) ([]worker.Runner, error) {
	r := env.Config
	settings := SettingsFromEnv(r)
	breakers := env.Breakers(StageName, "PIPELINE")
	list := allowListFromEnv(r)
	if list == nil {
		return nil, r.Err()
	}
	clients, err := clientsFromEnv(env, list)
	if err != nil {
		return nil, err
	}
	if err := r.Err(); err != nil {
		return nil, err
	}
	if list.Uses(BackendKFP) {
		if clients.RunLocks, err = env.JS.KeyValue(ctx, RunsBucket); err != nil {
			return nil, fmt.Errorf("opening KV bucket %s (apply streams/ first): %w", RunsBucket, err)
		}
	}
	b, err := New(list, settings, clients, breakers, env.Log.With("stage", StageName))
	if err != nil {
		return nil, err
	}
	env.Log.Info("pipeline allow-list loaded", "pipelines", list.Names())
	return env.Stages(b.Spec())
}

// allowListFromEnv loads the allow-list, recording problems in r; nil when there is none.
func allowListFromEnv(r *envconfig.Reader) *AllowList {
	def := r.String("PIPELINE_BACKEND", "")
	if def != "" && def != BackendArgo && def != BackendKFP {
		r.Fail("PIPELINE_BACKEND", "%q is not %s or %s", def, BackendArgo, BackendKFP)
		return nil
	}
	path := r.File("PIPELINES_FILE", "")
	inline := r.String("PIPELINES_JSON", "")
	switch {
	case path != "" && inline != "":
		r.Fail("PIPELINES_FILE", "and PIPELINES_JSON are both set; set one")
	case path != "":
		l, err := LoadAllowList(path, def)
		if err != nil {
			r.Fail("PIPELINES_FILE", "%v", err)
			return nil
		}
		return l
	case inline != "":
		l, err := ParseAllowList([]byte(inline), def)
		if err != nil {
			r.Fail("PIPELINES_JSON", "%v", err)
			return nil
		}
		return l
	default:
		r.Fail("PIPELINES_FILE", "is required (or PIPELINES_JSON): the bridge starts only allow-listed pipelines")
	}
	return nil
}

// clientsFromEnv makes the clients of the backends the allow-list uses.
func clientsFromEnv(env *worker.Env, list *AllowList) (Clients, error) {
	r := env.Config
	var c Clients
	if list.Uses(BackendArgo) {
		cfg, err := kubeConfig(r.File("KUBECONFIG", ""))
		if err != nil {
			return Clients{}, err
		}
		cfg.UserAgent = userAgent
		traceKubernetes(cfg)
		dyn, err := dynamic.NewForConfig(cfg)
		if err != nil {
			return Clients{}, fmt.Errorf("creating the Kubernetes client: %w", err)
		}
		c.Kubernetes = dyn
	}
	if list.Uses(BackendKFP) {
		c.KFPURL = env.RequireURL("KFP_URL", "the allow-list has KFP pipelines")
		token := r.String("KFP_TOKEN", "")
		tokenFile := r.File("KFP_TOKEN_FILE", "")
		switch {
		case token != "" && tokenFile != "":
			r.Fail("KFP_TOKEN", "and KFP_TOKEN_FILE are both set; set one")
		case token != "":
			c.KFPToken = StaticToken(token)
		case tokenFile != "":
			c.KFPToken = FileToken(tokenFile)
		}
		c.KFPHTTP = &http.Client{Transport: userAgentTransport{base: http.DefaultTransport.(*http.Transport).Clone()}}
	}
	return c, nil
}

// kubeConfig reads a kubeconfig file when path is set, else the in-cluster configuration.
func kubeConfig(path string) (*rest.Config, error) {
	if path != "" {
		cfg, err := clientcmd.BuildConfigFromFlags("", path)
		if err != nil {
			return nil, fmt.Errorf("reading kubeconfig %s: %w", path, err)
		}
		return cfg, nil
	}
	cfg, err := rest.InClusterConfig()
	if err != nil {
		return nil, fmt.Errorf("reading the in-cluster Kubernetes configuration (set KUBECONFIG outside a cluster): %w", err)
	}
	return cfg, nil
}

type userAgentTransport struct{ base http.RoundTripper }

func (t userAgentTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Header.Get("User-Agent") == "" {
		req = req.Clone(req.Context())
		req.Header.Set("User-Agent", userAgent)
	}
	return t.base.RoundTrip(req)
}
