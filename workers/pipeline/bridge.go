package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/types/known/timestamppb"
	"k8s.io/client-go/dynamic"

	"github.com/jetflow-dev/jetflow/internal/breaker"
	"github.com/jetflow-dev/jetflow/internal/failure"
	"github.com/jetflow-dev/jetflow/internal/stage"
	"github.com/jetflow-dev/jetflow/internal/worker"
	jetflowv1 "github.com/jetflow-dev/jetflow/proto/jetflow/v1"
	"github.com/jetflow-dev/jetflow/streams"
)

// StageName is the stage's name: its consumer, its dead-letter subject (ai.dlq.pipeline-bridge)
// and the prefix of its breakers' names.
const StageName = streams.ConsumerPipelineBridge

// KeyFinal is the output key of a trigger's last status.
const KeyFinal = "final"

// maxStatusMessage bounds PipelineStatus.message; backends can put whole stack traces there.
const maxStatusMessage = 2048

// Clients are the bridge's connections to the backends, made by the caller: Build makes real
// ones from the environment, tests pass client-go's fake dynamic client and an httptest server.
// A backend no allow-listed pipeline uses may be left out.
type Clients struct {
	// Kubernetes creates and reads Argo Workflows.
	Kubernetes dynamic.Interface
	// KFPURL is the KFP API server's root (http://ml-pipeline.kubeflow:8888), without /apis.
	KFPURL string
	// KFPHTTP sends the KFP requests; nil means a client with Go's default transport.
	KFPHTTP *http.Client
	// KFPToken yields the bearer token of each KFP request (StaticToken, FileToken); nil or ""
	// sends none.
	KFPToken func() (string, error)
	// RunLocks is the RunsBucket KV bucket, which makes creating a KFP run atomic across
	// replicas. Required when a pipeline uses KFP.
	RunLocks jetstream.KeyValue
}

// Bridge checks triggers against the allow-list, starts their runs and follows them. It is
// safe for concurrent use.
type Bridge struct {
	list     *AllowList
	settings Settings
	backends map[string]backend
	breakers *breaker.Set
	log      *slog.Logger
}

// New returns a bridge for the pipelines of list, reaching their backends through c. breakers
// guard the Kubernetes and KFP calls (nil: breakers with the default settings, reporting to
// nobody); log gets the runs' progress (nil discards it).
func New(list *AllowList, s Settings, c Clients, breakers *breaker.Set, log *slog.Logger) (*Bridge, error) {
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("configuring pipeline bridge: %w", err)
	}
	if len(list.Names()) == 0 {
		return nil, errors.New("configuring pipeline bridge: the allow-list is empty")
	}
	if breakers == nil {
		breakers = breaker.NewSet(StageName, breaker.Settings{})
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	b := &Bridge{list: list, settings: s.withDefaults(), backends: map[string]backend{}, breakers: breakers, log: log}
	if list.Uses(BackendArgo) {
		if c.Kubernetes == nil {
			return nil, errors.New("configuring pipeline bridge: the allow-list has Argo pipelines but no Kubernetes client was given")
		}
		b.backends[BackendArgo] = newArgoBackend(c.Kubernetes, b.settings.ArgoNamespace, b.breakers.Get(upstreamKubernetes), b.settings.CallTimeout)
	}
	if list.Uses(BackendKFP) {
		if c.KFPURL == "" {
			return nil, errors.New("configuring pipeline bridge: the allow-list has KFP pipelines but no KFP URL was given")
		}
		if c.RunLocks == nil {
			return nil, fmt.Errorf("configuring pipeline bridge: the allow-list has KFP pipelines but no %s bucket was given", RunsBucket)
		}
		hc := c.KFPHTTP
		if hc == nil {
			hc = &http.Client{}
		}
		b.backends[BackendKFP] = &kfpBackend{
			http:        hc,
			base:        strings.TrimRight(c.KFPURL, "/"),
			token:       c.KFPToken,
			namespace:   b.settings.KFPNamespace,
			brk:         b.breakers.Get(upstreamKFP),
			callTimeout: b.settings.CallTimeout,
			// A claimant's create is one call; twice that leaves room for its list and a slow
			// answer before another replica takes the claimant for dead.
			locks: &runLocks{kv: c.RunLocks, lease: 2 * b.settings.CallTimeout, log: log},
		}
	}
	return b, nil
}

// Spec is the stage the bridge runs as: its handler on the pipeline-bridge consumer, gated by
// its breakers. HandlerTimeout is only a backstop: the handler ends itself once
// Settings.Timeout has passed.
func (b *Bridge) Spec() worker.StageSpec {
	return worker.StageSpec{
		Consumer:       streams.ConsumerPipelineBridge,
		Handler:        b.Handler(),
		Breakers:       b.breakers,
		Concurrency:    b.settings.Concurrency,
		MaxPayload:     MaxTriggerBytes,
		HandlerTimeout: b.settings.Timeout + 2*b.settings.CallTimeout + time.Minute,
		GracePeriod:    b.settings.GracePeriod,
		Backoff:        b.settings.Backoff,
	}
}

// Handler serves one trigger: check it, start (or adopt) its run, follow it, and return its
// final status. The start runs under stage.Typed, so the trigger is decoded and validated, an
// expired one is refused, and its deadline bounds the start. Following runs under the
// runtime's context instead: the trigger's deadline says when a run may no longer be started,
// not how long a started one may take.
func (b *Bridge) Handler() stage.Handler {
	return stage.HandlerFunc(func(ctx context.Context, in *stage.Input) ([]stage.Output, error) {
		deadline := time.Now().Add(b.settings.Timeout)
		var st *started
		_, err := stage.Typed(func(ctx context.Context, t *jetflowv1.PipelineTrigger, _ *stage.Input) ([]stage.Output, error) {
			var err error
			st, err = b.start(ctx, t)
			return nil, err
		}).Handle(ctx, in)
		if err != nil {
			return nil, err
		}
		return b.follow(ctx, st, in, deadline)
	})
}

// started is a run the bridge created or adopted.
type started struct {
	run *Run
	be  backend
	obs observation
	log *slog.Logger
}

func (b *Bridge) start(ctx context.Context, t *jetflowv1.PipelineTrigger) (*started, error) {
	run, err := b.list.Resolve(t)
	if err != nil {
		return nil, err
	}
	be, ok := b.backends[run.Pipeline.Backend]
	if !ok {
		return nil, failure.Permanentf("pipeline %q runs on %s, which this bridge has no client for", run.Pipeline.Name, run.Pipeline.Backend)
	}
	log := b.log.With("request_id", run.RequestID, "pipeline", run.Pipeline.Name, "backend", be.statusName(), "run", run.Name)
	obs, err := be.start(ctx, run)
	if err != nil {
		return nil, err
	}
	if obs.adopted {
		log.Info("adopted the run an earlier delivery started", "ref", obs.ref, "phase", obs.phase.String())
	} else {
		log.Info("started run", "ref", obs.ref)
	}
	return &started{run: run, be: be, obs: obs, log: log}, nil
}

// follow polls the run until it ends, emitting a status at each change of phase, and returns
// the final status. At shutdown it returns ctx's error, so the trigger is naked and the next
// delivery adopts the run. When deadline (Settings.Timeout) passes first, the final status
// carries the last phase seen and says the bridge stopped following.
func (b *Bridge) follow(ctx context.Context, st *started, in *stage.Input, deadline time.Time) ([]stage.Output, error) {
	run, be, obs, log := st.run, st.be, st.obs, st.log
	fctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()

	subject := streams.ResultSubject(streams.ResultKindPipeline, run.RequestID)
	emitted := jetflowv1.PipelineStatus_PHASE_UNSPECIFIED
	timer := time.NewTimer(b.settings.PollInterval)
	defer timer.Stop()
	for {
		if terminal(obs.phase) {
			log.Info("run ended", "phase", obs.phase.String(), "message", obs.message)
			return []stage.Output{{Subject: subject, Msg: b.status(run, be, obs), Key: KeyFinal}}, nil
		}
		if obs.phase != emitted {
			if err := in.Emit(fctx, stage.Output{Subject: subject, Msg: b.status(run, be, obs), Key: obs.phase.String()}); err != nil {
				return nil, fmt.Errorf("publishing the %s status of run %s: %w", obs.phase, run.Name, err)
			}
			emitted = obs.phase
		}
		timer.Reset(b.settings.PollInterval)
		select {
		case <-fctx.Done():
			if err := ctx.Err(); err != nil {
				return nil, fmt.Errorf("following run %s: %w", run.Name, err)
			}
			log.Warn("stopped following the run: timeout", "timeout", b.settings.Timeout, "phase", obs.phase.String())
			obs.message = fmt.Sprintf("stopped following after %v; the run goes on in %s as %s", b.settings.Timeout, be.statusName(), run.Name)
			return []stage.Output{{Subject: subject, Msg: b.status(run, be, obs), Key: KeyFinal}}, nil
		case <-timer.C:
		}
		next, err := be.observe(fctx, run, obs.ref)
		switch {
		case err == nil:
			obs = next
		case errors.Is(err, ErrRunGone):
			log.Warn("the run disappeared before its end was seen", "error", err)
			obs.phase = jetflowv1.PipelineStatus_PHASE_ERROR
			obs.message = fmt.Sprintf("the run disappeared from %s before its end was seen (deleted?)", be.statusName())
		case failure.IsPermanent(err):
			return nil, fmt.Errorf("following run %s: %w", run.Name, err)
		default:
			// A blip must not cost the trigger a delivery: keep polling until Timeout.
			log.Warn("reading the run, will try again", "error", err, "retry_in", b.settings.PollInterval)
		}
	}
}

func (b *Bridge) status(run *Run, be backend, obs observation) *jetflowv1.PipelineStatus {
	return &jetflowv1.PipelineStatus{
		RequestId: run.RequestID,
		Pipeline:  run.Pipeline.Name,
		Backend:   be.statusName(),
		RunName:   run.Name,
		Phase:     obs.phase,
		Message:   strings.ToValidUTF8(truncate(obs.message, maxStatusMessage), "\uFFFD"),
		UpdatedAt: timestamppb.Now(),
	}
}
