package pipeline

import (
	"errors"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/jetflow-dev/jetflow/internal/envconfig"
)

// Defaults of Settings.
const (
	DefaultArgoNamespace = "argo"
	DefaultPollInterval  = 5 * time.Second
	DefaultTimeout       = 6 * time.Hour
	DefaultCallTimeout   = 30 * time.Second
	DefaultConcurrency   = 8
	DefaultGracePeriod   = 5 * time.Second
)

// Settings tune the bridge. Zero fields take the default named in their comment.
type Settings struct {
	// ArgoNamespace is where Workflows are created and their templates live. "" means "argo".
	ArgoNamespace string
	// KFPNamespace is sent with KFP run listings; multi-user KFP needs it. "" sends none.
	KFPNamespace string
	// PollInterval is how often a followed run is read. 0 means 5s.
	PollInterval time.Duration
	// Timeout is how long one trigger's run is followed. 0 means 6h.
	Timeout time.Duration
	// CallTimeout bounds one call to Kubernetes or KFP. 0 means 30s.
	CallTimeout time.Duration
	// Concurrency is the number of triggers (runs followed) handled at once. 0 means 8.
	Concurrency int
	// GracePeriod is how long in-flight handlers get at shutdown. Short on purpose: a follower
	// loses nothing when cut, its trigger is naked and another replica adopts the run. 0 means
	// 5s.
	GracePeriod time.Duration
	// Backoff is the stage's retry schedule; empty means the runtime's default.
	Backoff []time.Duration
}

func (s Settings) withDefaults() Settings {
	if s.ArgoNamespace == "" {
		s.ArgoNamespace = DefaultArgoNamespace
	}
	if s.PollInterval == 0 {
		s.PollInterval = DefaultPollInterval
	}
	if s.Timeout == 0 {
		s.Timeout = DefaultTimeout
	}
	if s.CallTimeout == 0 {
		s.CallTimeout = DefaultCallTimeout
	}
	if s.Concurrency == 0 {
		s.Concurrency = DefaultConcurrency
	}
	if s.GracePeriod == 0 {
		s.GracePeriod = DefaultGracePeriod
	}
	return s
}

// Validate reports every field New would not accept.
func (s Settings) Validate() error {
	var errs []error
	if s.ArgoNamespace != "" {
		if msgs := validation.IsDNS1123Label(s.ArgoNamespace); len(msgs) > 0 {
			errs = append(errs, fmt.Errorf("argo namespace %q is not a namespace name", s.ArgoNamespace))
		}
	}
	if s.KFPNamespace != "" {
		if msgs := validation.IsDNS1123Label(s.KFPNamespace); len(msgs) > 0 {
			errs = append(errs, fmt.Errorf("KFP namespace %q is not a namespace name", s.KFPNamespace))
		}
	}
	if s.PollInterval < 0 || s.Timeout < 0 || s.CallTimeout < 0 || s.GracePeriod < 0 {
		errs = append(errs, errors.New("durations must not be negative"))
	}
	if s.Concurrency < 0 || s.Concurrency > 10000 {
		errs = append(errs, fmt.Errorf("concurrency %d is outside [0, 10000]", s.Concurrency))
	}
	return errors.Join(errs...)
}

// SettingsFromEnv reads ARGO_NAMESPACE, KFP_NAMESPACE, PIPELINE_POLL_INTERVAL,
// PIPELINE_TIMEOUT, PIPELINE_CALL_TIMEOUT, PIPELINE_CONCURRENCY, PIPELINE_GRACE_PERIOD and
// PIPELINE_RETRY_BACKOFF (comma-separated durations). An unset variable leaves its field zero,
// which means the default stated on the field. Problems are recorded in r.
func SettingsFromEnv(r *envconfig.Reader) Settings {
	s := Settings{
		ArgoNamespace: r.String("ARGO_NAMESPACE", ""),
		KFPNamespace:  r.String("KFP_NAMESPACE", ""),
		PollInterval:  r.Duration("PIPELINE_POLL_INTERVAL", 0, 100*time.Millisecond, time.Hour),
		Timeout:       r.Duration("PIPELINE_TIMEOUT", 0, time.Second, 7*24*time.Hour),
		CallTimeout:   r.Duration("PIPELINE_CALL_TIMEOUT", 0, 100*time.Millisecond, 10*time.Minute),
		Concurrency:   r.Int("PIPELINE_CONCURRENCY", 0, 1, 10000),
		GracePeriod:   r.Duration("PIPELINE_GRACE_PERIOD", 0, 100*time.Millisecond, 10*time.Minute),
		Backoff:       r.Durations("PIPELINE_RETRY_BACKOFF", nil, 10*time.Millisecond, time.Hour),
	}
	if s.ArgoNamespace != "" && len(validation.IsDNS1123Label(s.ArgoNamespace)) > 0 {
		r.Fail("ARGO_NAMESPACE", "%q is not a namespace name", s.ArgoNamespace)
	}
	if s.KFPNamespace != "" && len(validation.IsDNS1123Label(s.KFPNamespace)) > 0 {
		r.Fail("KFP_NAMESPACE", "%q is not a namespace name", s.KFPNamespace)
	}
	return s
}
