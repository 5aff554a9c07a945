package integration

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/jetflow-dev/jetflow/internal/devkit/jstest"
	"github.com/jetflow-dev/jetflow/internal/devkit/standin"
	"github.com/jetflow-dev/jetflow/internal/devkit/testplatform"
	jetflowv1 "github.com/jetflow-dev/jetflow/proto/jetflow/v1"
	"github.com/jetflow-dev/jetflow/streams"
)

// statusReport is the part of `jetflow status -o json` the test reads.
type statusReport struct {
	Healthy  bool     `json:"healthy"`
	Problems []string `json:"problems"`
	Stages   []struct {
		Stage    string `json:"stage"`
		Replicas int    `json:"replicas"`
		Breakers []struct {
			Upstream string `json:"upstream"`
			State    string `json:"state"`
		} `json:"breakers"`
	} `json:"stages"`
}

// jetflowStatus runs the jetflow binary's `status -o json` against natsURL.
func jetflowStatus(ctx context.Context, bin, natsURL string) (int, statusReport, error) {
	cmd := exec.CommandContext(ctx, bin, "status", "-o", "json")
	cmd.Env = []string{"NATS_URL=" + natsURL}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	code := 0
	if exit := (*exec.ExitError)(nil); errors.As(err, &exit) {
		code = exit.ExitCode()
	} else if err != nil {
		return -1, statusReport{}, err
	}
	var r statusReport
	if err := json.Unmarshal(out, &r); err != nil {
		return code, r, fmt.Errorf("exit %d, output that is not JSON (%w): %s; stderr: %s", code, err, out, stderr.String())
	}
	return code, r, nil
}

// The `jetflow` binary's status command on the running platform: 0 and every stage served
// while healthy; 1, naming the open breaker, during a stand-in model outage.
func TestJetflowStatusExitCodes(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the jetflow binary")
	}
	bin := buildBinary(t, "jetflow")
	p := testplatform.New(t)
	models, err := standin.New(standin.Config{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	modelSrv := httptest.NewServer(models)
	t.Cleanup(modelSrv.Close)
	runWorkers(t, p.URL(), modelSrv.URL)

	set, err := streams.Load()
	if err != nil {
		t.Fatal(err)
	}
	jstest.Eventually(t, 30*time.Second, 200*time.Millisecond, func() error {
		code, r, err := jetflowStatus(p.Ctx, bin, p.URL())
		if err != nil {
			return err
		}
		if code != 0 || !r.Healthy || len(r.Stages) != len(set.Consumers()) {
			return fmt.Errorf("exit %d, %d stages, problems %q; want 0 and %d stages", code, len(r.Stages), r.Problems, len(set.Consumers()))
		}
		for _, s := range r.Stages {
			if s.Replicas == 0 {
				return fmt.Errorf("stage %s has no replica yet", s.Stage)
			}
		}
		return nil
	})

	req, err := http.NewRequestWithContext(p.Ctx, http.MethodPost, modelSrv.URL+"/admin/outage?for=5m", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for i := range 8 {
		b, err := proto.Marshal(&jetflowv1.TtsRequest{RequestId: "status-outage-" + strconv.Itoa(i), Text: "the model is down"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.JS.Publish(p.Ctx, streams.SubjectTTSRequest, b); err != nil {
			t.Fatal(err)
		}
	}
	jstest.Eventually(t, 60*time.Second, 200*time.Millisecond, func() error {
		code, r, err := jetflowStatus(p.Ctx, bin, p.URL())
		if err != nil {
			return err
		}
		if code != 1 || !strings.Contains(strings.Join(r.Problems, "\n"), "tts: breaker tts open") {
			return fmt.Errorf("exit %d, problems %q; want 1 and the tts breaker open", code, r.Problems)
		}
		return nil
	})
}
