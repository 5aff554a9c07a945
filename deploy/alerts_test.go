package deploy

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	kedav1alpha1 "github.com/kedacore/keda/v2/apis/keda/v1alpha1"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/prometheus/promql/parser"
	"google.golang.org/protobuf/proto"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"github.com/jetflow-dev/jetflow/internal/devkit/healthlog"
	"github.com/jetflow-dev/jetflow/internal/devkit/jstest"
	"github.com/jetflow-dev/jetflow/internal/devkit/standin"
	"github.com/jetflow-dev/jetflow/internal/devkit/syncbuf"
	"github.com/jetflow-dev/jetflow/internal/devkit/testplatform"
	"github.com/jetflow-dev/jetflow/internal/envconfig"
	"github.com/jetflow-dev/jetflow/internal/worker"
	jetflowv1 "github.com/jetflow-dev/jetflow/proto/jetflow/v1"
	"github.com/jetflow-dev/jetflow/streams"
	"github.com/jetflow-dev/jetflow/workers/tts"
)

// Monitoring files, relative to deploy/.
const (
	dirMonitoring  = "monitoring"
	fileAlertRules = "monitoring/prometheusrule.yaml"
	fileDashboard  = "monitoring/jetflow-stages.json"
)

// natsExporter names the exporter of the metrics the workers do not export.
const natsExporter = "prometheus-nats-exporter (-jsz=all, against the NATS monitoring port)"

// externalMetrics are the metrics the rules and the dashboard use that no worker exports, each
// with the exporter that does. Every other metric they name must be a jetflow_* metric on a
// running worker's /metrics.
var externalMetrics = map[string]string{
	"jetstream_consumer_num_pending":     natsExporter,
	"jetstream_consumer_num_ack_pending": natsExporter,
	"jetstream_consumer_num_waiting":     natsExporter,
}

// Grafana's variables, replaced by what they stand for before a panel's query is parsed.
var grafanaVariables = strings.NewReplacer("$__rate_interval", "5m", "$__interval", "1m", "$stage", ".*")

// prometheusRule is the part of a monitoring.coreos.com/v1 PrometheusRule the file may hold;
// decoding it strictly refuses a misspelt field.
type prometheusRule struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name   string            `json:"name"`
		Labels map[string]string `json:"labels"`
	} `json:"metadata"`
	Spec struct {
		Groups []struct {
			Name  string `json:"name"`
			Rules []struct {
				Alert       string            `json:"alert"`
				Expr        string            `json:"expr"`
				For         string            `json:"for"`
				Labels      map[string]string `json:"labels"`
				Annotations map[string]string `json:"annotations"`
			} `json:"rules"`
		} `json:"groups"`
	} `json:"spec"`
}

// query is one PromQL expression of the rules or the dashboard, parsed.
type query struct {
	source string // alert name or dashboard panel
	expr   parser.Expr
}

var promql = parser.NewParser(parser.Options{})

func loadAlertRules(t *testing.T) (prometheusRule, map[string]query) {
	t.Helper()
	var rule prometheusRule
	if err := yaml.UnmarshalStrict(readFile(t, fileAlertRules), &rule); err != nil {
		t.Fatalf("decoding %s: %v", fileAlertRules, err)
	}
	if rule.APIVersion != "monitoring.coreos.com/v1" || rule.Kind != "PrometheusRule" {
		t.Fatalf("%s is %s %s, want monitoring.coreos.com/v1 PrometheusRule", fileAlertRules, rule.APIVersion, rule.Kind)
	}
	alerts := map[string]query{}
	for _, g := range rule.Spec.Groups {
		for _, r := range g.Rules {
			expr, err := promql.ParseExpr(r.Expr)
			if err != nil {
				t.Errorf("alert %s: parsing its expression: %v\n%s", r.Alert, err, r.Expr)
				continue
			}
			if _, err := time.ParseDuration(r.For); err != nil {
				t.Errorf("alert %s: for %q: %v", r.Alert, r.For, err)
			}
			if r.Labels["severity"] == "" || r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
				t.Errorf("alert %s: want a severity label, a summary and a description", r.Alert)
			}
			alerts[r.Alert] = query{source: "alert " + r.Alert, expr: expr}
		}
	}
	return rule, alerts
}

func loadDashboardQueries(t *testing.T) []query {
	t.Helper()
	var dash struct {
		UID    string `json:"uid"`
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(readFile(t, fileDashboard), &dash); err != nil {
		t.Fatalf("decoding %s: %v", fileDashboard, err)
	}
	var out []query
	for _, p := range dash.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("dashboard panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			expr, err := promql.ParseExpr(grafanaVariables.Replace(tg.Expr))
			if err != nil {
				t.Errorf("dashboard panel %q: parsing %q: %v", p.Title, tg.Expr, err)
				continue
			}
			out = append(out, query{source: "dashboard panel " + p.Title, expr: expr})
		}
	}
	return out
}

// metricNames lists the metric names an expression selects.
func metricNames(expr parser.Expr) []string {
	var names []string
	parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok {
			names = append(names, vs.Name)
		}
		return nil
	})
	return names
}

// thresholds reads the per-label constants of an expression, written as
// label_replace(vector(N), "<label>", "<value>", "", ""), as value -> N.
func thresholds(t *testing.T, q query, label string) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	parser.Inspect(q.expr, func(n parser.Node, _ []parser.Node) error {
		call, ok := n.(*parser.Call)
		if !ok || call.Func.Name != "label_replace" {
			return nil
		}
		vec, ok := call.Args[0].(*parser.Call)
		if !ok || vec.Func.Name != "vector" {
			return nil
		}
		num, ok1 := vec.Args[0].(*parser.NumberLiteral)
		dst, ok2 := call.Args[1].(*parser.StringLiteral)
		val, ok3 := call.Args[2].(*parser.StringLiteral)
		if !ok1 || !ok2 || !ok3 || dst.Val != label {
			t.Errorf("%s: label_replace %s is not a constant for a %s", q.source, call, label)
			return nil
		}
		if _, dup := out[val.Val]; dup {
			t.Errorf("%s: %s %q has two thresholds", q.source, label, val.Val)
		}
		out[val.Val] = num.Val
		return nil
	})
	return out
}

// TestAlertRulesAndDashboardWatchExportedMetrics parses every alert expression and dashboard
// query with Prometheus's parser and checks that each metric it names exists: a jetflow_* metric
// on the /metrics of a running worker that has handled, retried and dead-lettered a message (so
// that its counters and histograms exist), any other on the list of the NATS exporter's metrics.
// An alert on a misspelt or renamed metric would otherwise watch nothing, silently.
func TestAlertRulesAndDashboardWatchExportedMetrics(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a worker")
	}
	_, alerts := loadAlertRules(t)
	queries := append(slices.Collect(maps.Values(alerts)), loadDashboardQueries(t)...)
	exported := workerMetrics(t)
	for _, q := range queries {
		names := metricNames(q.expr)
		if len(names) == 0 {
			t.Errorf("%s names no metric", q.source)
		}
		for _, name := range names {
			if _, ok := externalMetrics[name]; ok {
				continue
			}
			if !strings.HasPrefix(name, "jetflow_") {
				t.Errorf("%s: %s is neither a jetflow metric nor on the list of external metrics (with its exporter)", q.source, name)
				continue
			}
			if !exported[name] {
				t.Errorf("%s: %s is not exported by the worker; it exports %v", q.source, name, slices.Sorted(maps.Keys(exported)))
			}
		}
	}
}

// TestLagAlertMatchesKEDA: the lag alert's threshold per consumer is maxReplicaCount x
// lagThreshold of that consumer's KEDA trigger, for every trigger: the lag above which KEDA has no
// replica left to add.
func TestLagAlertMatchesKEDA(t *testing.T) {
	_, alerts := loadAlertRules(t)
	q, ok := alerts["JetflowConsumerLagAboveKEDAMax"]
	if !ok {
		t.Fatal("no alert JetflowConsumerLagAboveKEDAMax")
	}
	want := map[string]float64{}
	for _, so := range all[*kedav1alpha1.ScaledObject](manifestFiles(t, dirBase)) {
		for _, tr := range so.Spec.Triggers {
			if tr.Type != "nats-jetstream" {
				continue // a <consumer>-stalled trigger carries no lag
			}
			lag, err := strconv.Atoi(tr.Metadata["lagThreshold"])
			if err != nil || so.Spec.MaxReplicaCount == nil {
				t.Fatalf("ScaledObject %s trigger %s: lagThreshold %q, maxReplicaCount %v", so.Name, tr.Name, tr.Metadata["lagThreshold"], so.Spec.MaxReplicaCount)
			}
			want[tr.Metadata["consumer"]] = float64(int(*so.Spec.MaxReplicaCount) * lag)
		}
	}
	if got := thresholds(t, q, "consumer_name"); !maps.Equal(got, want) {
		t.Errorf("%s thresholds %v, want maxReplicaCount x lagThreshold of each trigger %v", q.source, got, want)
	}
}

// TestHandlerAlertMatchesAckWait: the p99 alert's threshold per stage is the ack_wait of the
// stage's consumer in streams/, for every consumer.
func TestHandlerAlertMatchesAckWait(t *testing.T) {
	_, alerts := loadAlertRules(t)
	q, ok := alerts["JetflowHandlerP99AboveAckWait"]
	if !ok {
		t.Fatal("no alert JetflowHandlerP99AboveAckWait")
	}
	want := map[string]float64{}
	for _, c := range loadStreams(t).Consumers() {
		want[c.Config.Durable] = c.Config.AckWait.Seconds()
	}
	if got := thresholds(t, q, "stage"); !maps.Equal(got, want) {
		t.Errorf("%s thresholds %v, want each consumer's ack_wait in seconds %v", q.source, got, want)
	}
}

// TestMonitoringKustomization builds deploy/monitoring and finds the rule and the dashboard's
// ConfigMap, labelled for Grafana's sidecar. (The manifests tests' strict decoding knows no Go
// type for a PrometheusRule; loadAlertRules decodes it strictly instead.)
func TestMonitoringKustomization(t *testing.T) {
	res, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), dirMonitoring)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dirMonitoring, err)
	}
	var built []string
	for _, r := range res.Resources() {
		built = append(built, r.GetKind()+"/"+r.GetName())
		if r.GetKind() != "ConfigMap" {
			continue
		}
		if r.GetLabels()["grafana_dashboard"] != "1" {
			t.Errorf("dashboard ConfigMap %s labels %v, want grafana_dashboard: \"1\"", r.GetName(), r.GetLabels())
		}
		if _, ok := r.GetDataMap()[filepath.Base(fileDashboard)]; !ok {
			t.Errorf("dashboard ConfigMap %s holds %v, want %s", r.GetName(), slices.Sorted(maps.Keys(r.GetDataMap())), filepath.Base(fileDashboard))
		}
	}
	slices.Sort(built)
	if want := []string{"ConfigMap/jetflow-dashboards", "PrometheusRule/jetflow"}; !slices.Equal(built, want) {
		t.Errorf("deploy/monitoring builds %v, want %v", built, want)
	}
}

// workerMetrics runs tts-module, the binary when JETFLOW_WORKER_BIN names a directory of built
// workers and otherwise in this process (its Build, as its binary runs it; not workers.All, whose
// Milvus SDK does not build against the etcd this module's Prometheus parser selects), on an
// embedded server and the stand-in models, makes it succeed, retry and dead-letter one message each, and
// returns the metric names on its /metrics.
func workerMetrics(t *testing.T) map[string]bool {
	t.Helper()
	p := testplatform.New(t)
	models, err := standin.New(standin.Config{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	modelSrv := httptest.NewServer(models)
	t.Cleanup(modelSrv.Close)
	vars := map[string]string{
		"NATS_URL": p.URL(), "HEALTH_ADDR": healthlog.AnyPort, "LOG_LEVEL": "info",
		"TTS_URL": modelSrv.URL + "/v1", "DEAD_LETTER_ADVISORIES": "false",
	}
	logs := &syncbuf.Buffer{}
	watch := healthlog.Watch(logs)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("tts-module's log:\n%s", logs.String())
		}
	})
	var exited <-chan struct{}
	if dir := os.Getenv(workerBinEnv); dir != "" {
		exited = startBinary(t, filepath.Join(dir, "tts-module"), vars, watch)
	} else {
		done := make(chan struct{})
		exited = done
		jstest.Run(t, p.Ctx, func(ctx context.Context) error {
			defer close(done)
			return worker.Run(ctx, "tts-module", envconfig.Map(vars), slog.New(slog.NewJSONHandler(watch, nil)), tts.Build)
		})
	}
	addr, err := watch.Addr(p.Ctx, exited)
	if err != nil {
		t.Fatalf("finding the health server: %v; log:\n%s", err, logs.String())
	}

	publish := func(id, text string) {
		data, err := proto.Marshal(&jetflowv1.TtsRequest{RequestId: id, Text: text})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.JS.Publish(p.Ctx, streams.SubjectTTSRequest, data); err != nil {
			t.Fatal(err)
		}
	}
	var names map[string]bool
	waitFor := func(metric string) {
		t.Helper()
		jstest.Eventually(t, 30*time.Second, 50*time.Millisecond, func() error {
			if names, err = scrape(p.Ctx, addr); err != nil {
				return err
			}
			if !names[metric] {
				return fmt.Errorf("no %s on /metrics yet", metric)
			}
			return nil
		})
	}
	publish("metrics-ok", "hello there")
	waitFor("jetflow_stage_handler_duration_seconds_bucket")
	publish("metrics-dead", "") // an empty text is permanent
	waitFor("jetflow_stage_dead_lettered_total")
	// A model server that answers 503 makes the stage retry the message after a delay.
	outage, err := http.NewRequestWithContext(p.Ctx, http.MethodPost, modelSrv.URL+"/admin/outage?for=2s", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(outage)
	if err != nil {
		t.Fatalf("starting a stand-in outage: %v", err)
	}
	_ = resp.Body.Close()
	publish("metrics-retry", "hello again")
	waitFor("jetflow_stage_retried_total")

	results, err := p.JS.Stream(p.Ctx, streams.StreamResults)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"metrics-ok", "metrics-retry"} {
		jstest.Eventually(t, 30*time.Second, 50*time.Millisecond, func() error {
			_, err := results.GetLastMsgForSubject(p.Ctx, streams.ResultSubject(streams.ResultKindTTS, id))
			if errors.Is(err, jetstream.ErrMsgNotFound) {
				return fmt.Errorf("no result of %s yet", id)
			}
			return err
		})
	}
	return names
}

// startBinary runs bin with exactly vars as its environment until the end of the test, when it
// is stopped with SIGTERM and must exit 0. The returned channel is closed when it exits.
func startBinary(t *testing.T, bin string, vars map[string]string, out io.Writer) <-chan struct{} {
	t.Helper()
	cmd := exec.CommandContext(jstest.Context(t), bin)
	for k, v := range vars {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s (make binaries): %v", bin, err)
	}
	exited := make(chan struct{})
	var exitErr error // set before exited is closed
	go func() {
		exitErr = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
			if exitErr != nil {
				t.Errorf("%s stopped with %v", bin, exitErr)
			}
		case <-time.After(45 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
			t.Errorf("%s did not stop within 45s after SIGTERM", bin)
		}
	})
	return exited
}

// scrape reads the metric names of a /metrics page in the Prometheus text format.
func scrape(ctx context.Context, addr string) (map[string]bool, error) {
	// One scrape is bounded on its own, so a /metrics that hangs fails the poll around it
	// instead of holding it past its time.
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("reading /metrics: %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("reading /metrics: status %s", resp.Status)
	}
	names := map[string]bool{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if i := strings.IndexAny(line, "{ "); i > 0 {
			names[line[:i]] = true
		}
	}
	return names, sc.Err()
}
