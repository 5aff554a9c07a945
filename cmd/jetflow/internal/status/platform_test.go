package status

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/jetflow-dev/jetflow/internal/devkit/healthlog"
	"github.com/jetflow-dev/jetflow/internal/devkit/jstest"
	"github.com/jetflow-dev/jetflow/internal/devkit/standin"
	"github.com/jetflow-dev/jetflow/internal/devkit/testplatform"
	"github.com/jetflow-dev/jetflow/internal/envconfig"
	"github.com/jetflow-dev/jetflow/internal/worker"
	"github.com/jetflow-dev/jetflow/platform"
	jetflowv1 "github.com/jetflow-dev/jetflow/proto/jetflow/v1"
	"github.com/jetflow-dev/jetflow/streams"
)

// runPlatform starts every worker in-process through its own Build, as its binary would, on
// stand-in models, and returns a function that stops one of them.
func runPlatform(t *testing.T, p *testplatform.Platform, modelsURL string, extra map[string]string) map[string]func() error {
	t.Helper()
	env := map[string]string{
		"NATS_URL":       p.URL(),
		"HEALTH_ADDR":    healthlog.AnyPort,
		"LOG_LEVEL":      "warn",
		"LLM_URL":        modelsURL + "/v1",
		"EMBEDDINGS_URL": modelsURL + "/v1",
		"RERANKER_URL":   modelsURL,
		"STT_URL":        modelsURL + "/v1",
		"TTS_URL":        modelsURL + "/v1",
		"PIPELINES_JSON": `{"pipelines":{"nightly-eval":{"backend":"kfp","pipeline_id":"p-1","pipeline_version_id":"v-1"}}}`,
		"KFP_URL":        modelsURL,
	}
	for k, v := range extra {
		env[k] = v
	}
	stops := make(map[string]func() error, len(platform.All))
	for _, w := range platform.All {
		stops[w.Name] = jstest.Run(t, p.Ctx, func(ctx context.Context) error {
			if err := worker.Run(ctx, w.Name, envconfig.Map(env), slog.New(slog.DiscardHandler), w.Build); err != nil {
				return fmt.Errorf("%s: %w", w.Name, err)
			}
			return nil
		})
	}
	return stops
}

// statusJSON runs `jetflow status -o json` and decodes its report.
func statusJSON(ctx context.Context, env map[string]string) (int, *Report, error) {
	code, stdout, stderr := runMain(ctx, env, "-o", "json")
	if code == ExitError {
		return code, nil, fmt.Errorf("exit %d: %s", code, stderr)
	}
	var r Report
	if err := json.Unmarshal([]byte(stdout), &r); err != nil {
		return code, nil, fmt.Errorf("decoding the report: %w\n%s", err, stdout)
	}
	return code, &r, nil
}

func stageIn(r *Report, name string) StageReport {
	for _, s := range r.Stages {
		if s.Stage == name {
			return s
		}
	}
	return StageReport{}
}

// The real workers on stand-in models. Healthy, every stage is served and `jetflow status` exits
// 0; during a model outage the breaker of the stage calling the model opens, the status shows it
// and exits 1; a worker that stops drops out of the replicas of its stages at once.
func TestStatusOfARunningPlatform(t *testing.T) {
	if testing.Short() {
		t.Skip("runs every worker")
	}
	p := testplatform.New(t)
	models, err := standin.New(standin.Config{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	modelSrv := httptest.NewServer(models)
	t.Cleanup(modelSrv.Close)
	stops := runPlatform(t, p, modelSrv.URL, map[string]string{
		"STATUS_INTERVAL": "500ms", "TTS_BREAKER_FAILURES": "2", "TTS_BREAKER_TIMEOUT": "5m",
	})
	env := map[string]string{"NATS_URL": p.URL()}

	set, err := streams.Load()
	if err != nil {
		t.Fatal(err)
	}
	jstest.Eventually(t, 20*time.Second, 100*time.Millisecond, func() error {
		code, r, err := statusJSON(p.Ctx, env)
		if err != nil {
			return err
		}
		if code != ExitHealthy || !r.Healthy {
			return fmt.Errorf("exit %d, problems %q", code, r.Problems)
		}
		if len(r.Replicas) != len(platform.All) {
			return fmt.Errorf("%d replicas report, want %d", len(r.Replicas), len(platform.All))
		}
		for _, d := range set.Consumers() {
			want := 1
			if d.Config.Durable == streams.ConsumerDeadLetterAdvisories {
				want = len(platform.All) // every worker runs the catcher
			}
			if s := stageIn(r, d.Config.Durable); s.Replicas != want || s.Missing {
				return fmt.Errorf("stage %s: %d replicas (missing %v), want %d", d.Config.Durable, s.Replicas, s.Missing, want)
			}
		}
		return nil
	})
	code, table, _ := runMain(p.Ctx, env)
	if code != ExitHealthy || !strings.Contains(table, "healthy:") {
		t.Fatalf("table exit %d:\n%s", code, table)
	}

	// The speech model goes down; tts requests arrive.
	req, err := http.NewRequestWithContext(p.Ctx, http.MethodPost, modelSrv.URL+"/admin/outage?for=5m", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for i := range 4 {
		b, err := proto.Marshal(&jetflowv1.TtsRequest{RequestId: "outage-" + strconv.Itoa(i), Text: "the model is down"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.JS.Publish(p.Ctx, streams.SubjectTTSRequest, b); err != nil {
			t.Fatal(err)
		}
	}
	jstest.Eventually(t, 20*time.Second, 100*time.Millisecond, func() error {
		code, r, err := statusJSON(p.Ctx, env)
		if err != nil {
			return err
		}
		tts := stageIn(r, streams.ConsumerTTS)
		if code != ExitUnhealthy || len(tts.Breakers) == 0 || tts.Breakers[0].State != stateOpen {
			return fmt.Errorf("exit %d, tts breakers %+v, problems %q; want exit 1 and the tts breaker open", code, tts.Breakers, r.Problems)
		}
		if !strings.Contains(strings.Join(r.Problems, "\n"), "tts: breaker tts open on 1 of 1 replicas") {
			return fmt.Errorf("problems %q name no open tts breaker", r.Problems)
		}
		return nil
	})
	code, table, _ = runMain(p.Ctx, env)
	if code != ExitUnhealthy || !strings.Contains(table, "tts open") || !strings.Contains(table, "problems:") {
		t.Errorf("table exit %d during the outage:\n%s", code, table)
	}

	// tts-module stops: its entry leaves with it.
	if err := stops["tts-module"](); err != nil {
		t.Fatal(err)
	}
	_, r, err := statusJSON(p.Ctx, env)
	if err != nil {
		t.Fatal(err)
	}
	if tts, catcher := stageIn(r, streams.ConsumerTTS), stageIn(r, streams.ConsumerDeadLetterAdvisories); tts.Replicas != 0 || len(tts.Breakers) != 0 || catcher.Replicas != len(platform.All)-1 {
		t.Errorf("after tts-module stopped: tts %d replicas %+v, catcher %d replicas; want 0, none, %d",
			tts.Replicas, tts.Breakers, catcher.Replicas, len(platform.All)-1)
	}
}
