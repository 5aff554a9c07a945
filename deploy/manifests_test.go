package deploy

import (
	"fmt"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	kedav1alpha1 "github.com/kedacore/keda/v2/apis/keda/v1alpha1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/jetflow-dev/jetflow/workers/pipeline"
)

// healthPort is where every worker serves /healthz, /readyz and /metrics (HEALTH_ADDR).
const healthPort = 8080

func TestManifestsDecodeStrictly(t *testing.T) {
	objs := manifestFiles(t, "kubernetes")
	kinds := map[string]int{}
	for _, o := range objs {
		kinds[o.kind]++
	}
	n := len(Workers())
	// The workers and the gateway; only the gateway takes calls (Service) and scales on CPU.
	for kind, want := range map[string]int{
		"Deployment": n + 1, "PodDisruptionBudget": n + 1, "ScaledObject": n, "Service": 1, "HorizontalPodAutoscaler": 1,
		"ServiceAccount": 1, "Role": 1, "RoleBinding": 1, "NetworkPolicy": 2,
	} {
		if kinds[kind] != want {
			t.Errorf("%d %s manifests, want %d", kinds[kind], kind, want)
		}
	}
}

// TestKustomizeBuilds builds each kustomization in-process and checks that every manifest file
// under it reaches the output, so a file missing from a resources list cannot go unnoticed.
func TestKustomizeBuilds(t *testing.T) {
	files := manifestFiles(t, dirBase)
	for _, dir := range []string{dirBase, dirNACK, dirExample} {
		t.Run(dir, func(t *testing.T) {
			built := build(t, dir)
			if len(built) == 0 {
				t.Fatal("empty build")
			}
			for _, f := range files {
				inNACK := strings.HasPrefix(f.source, dirNACK+string(filepath.Separator))
				if dir == dirBase && inNACK || dir == dirNACK && !inNACK {
					continue
				}
				if !slices.ContainsFunc(built, func(b object) bool { return b.kind == f.kind && b.name == f.name }) {
					t.Errorf("%s %s (%s) is not in the build: add it to a kustomization.yaml", f.kind, f.name, f.source)
				}
			}
		})
	}
}

func TestExampleOverlay(t *testing.T) {
	built := build(t, dirExample)
	configMaps := map[string]*corev1.ConfigMap{}
	for _, cm := range all[*corev1.ConfigMap](built) {
		configMaps[cm.Name] = cm
	}
	for _, o := range built {
		if o.kind == "Namespace" {
			continue
		}
		if o.namespace != "jetflow" {
			t.Errorf("%s %s is in namespace %q, want jetflow", o.kind, o.name, o.namespace)
		}
	}
	for _, w := range append(Workers(), Gateway()) {
		d, ok := find[*appsv1.Deployment](built, "Deployment", w.Name)
		if !ok {
			t.Errorf("no Deployment %s", w.Name)
			continue
		}
		c := d.Spec.Template.Spec.Containers[0]
		if want := "registry.example.com/jetflow/" + w.Name + ":0.1.0"; c.Image != want {
			t.Errorf("%s image %q, want %q", w.Name, c.Image, want)
		}
		// Every ConfigMap a Deployment reads must exist under its generated (hashed) name,
		// unless the reference is optional.
		for _, e := range c.Env {
			if e.ValueFrom == nil || e.ValueFrom.ConfigMapKeyRef == nil {
				continue
			}
			ref := e.ValueFrom.ConfigMapKeyRef
			if ref.Optional != nil && *ref.Optional {
				continue
			}
			cm, ok := configMaps[ref.Name]
			if !ok {
				t.Errorf("%s: %s reads ConfigMap %s, which the build does not have", w.Name, e.Name, ref.Name)
				continue
			}
			if _, ok := cm.Data[ref.Key]; !ok {
				t.Errorf("%s: %s reads %s/%s, which the build does not have", w.Name, e.Name, ref.Name, ref.Key)
			}
		}
		for _, v := range d.Spec.Template.Spec.Volumes {
			if v.ConfigMap != nil && configMaps[v.ConfigMap.Name] == nil {
				t.Errorf("%s mounts ConfigMap %s, which the build does not have", w.Name, v.ConfigMap.Name)
			}
		}
	}
	rb, ok := find[*rbacv1.RoleBinding](built, "RoleBinding", "pipeline-bridge")
	if !ok || len(rb.Subjects) != 1 || rb.Subjects[0].Namespace != "jetflow" {
		t.Errorf("RoleBinding pipeline-bridge subjects %+v, want the ServiceAccount in namespace jetflow", rb)
	}
	ns, ok := find[*corev1.Namespace](built, "Namespace", "jetflow")
	if !ok || ns.Labels["pod-security.kubernetes.io/enforce"] != "restricted" {
		t.Error("namespace jetflow does not enforce the restricted Pod Security Standard")
	}
}

func TestDeployments(t *testing.T) {
	objs := manifestFiles(t, dirBase)
	for _, w := range Workers() {
		t.Run(w.Name, func(t *testing.T) {
			d, ok := find[*appsv1.Deployment](objs, "Deployment", w.Name)
			if !ok {
				t.Fatalf("no Deployment %s", w.Name)
			}
			checkDeployment(t, w, d)
			pdb, ok := find[*policyv1.PodDisruptionBudget](objs, "PodDisruptionBudget", w.Name)
			if !ok {
				t.Fatalf("no PodDisruptionBudget %s", w.Name)
			}
			sel, err := metav1LabelSelector(pdb)
			if err != nil || !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
				t.Errorf("PodDisruptionBudget %s does not select the pods (%v)", w.Name, err)
			}
			if pdb.Spec.MaxUnavailable == nil || pdb.Spec.MaxUnavailable.IntValue() != 1 {
				t.Errorf("PodDisruptionBudget %s maxUnavailable %v, want 1", w.Name, pdb.Spec.MaxUnavailable)
			}
		})
	}
}

func metav1LabelSelector(pdb *policyv1.PodDisruptionBudget) (labels.Selector, error) {
	if pdb.Spec.Selector == nil {
		return nil, fmt.Errorf("no selector")
	}
	return labels.SelectorFromSet(pdb.Spec.Selector.MatchLabels), nil
}

func checkDeployment(t *testing.T, w Worker, d *appsv1.Deployment) {
	t.Helper()
	pod := d.Spec.Template.Spec
	if d.Spec.Replicas != nil {
		t.Error("replicas is set: the ScaledObject owns the replica count")
	}
	if !labels.SelectorFromSet(d.Spec.Selector.MatchLabels).Matches(labels.Set(d.Spec.Template.Labels)) {
		t.Error("selector does not match the pod labels")
	}
	if g := pod.TerminationGracePeriodSeconds; g == nil || *g <= 30 {
		t.Errorf("terminationGracePeriodSeconds %v, want above the runtime's 20 s grace + 10 s drain", g)
	}
	psc := pod.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot {
		t.Error("pod does not require runAsNonRoot")
	}
	if psc == nil || psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Error("pod seccomp profile is not RuntimeDefault")
	}
	if w.Kubernetes {
		if pod.ServiceAccountName != w.Name || pod.AutomountServiceAccountToken == nil || !*pod.AutomountServiceAccountToken {
			t.Errorf("serviceAccountName %q automount %v: %s calls the Kubernetes API with its own ServiceAccount", pod.ServiceAccountName, pod.AutomountServiceAccountToken, w.Name)
		}
	} else if pod.ServiceAccountName != "" || pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
		t.Errorf("serviceAccountName %q automount %v: only the pipeline bridge gets an API token", pod.ServiceAccountName, pod.AutomountServiceAccountToken)
	}
	if len(pod.Containers) != 1 || len(pod.InitContainers) != 0 {
		t.Fatalf("%d containers, %d init containers; want one container", len(pod.Containers), len(pod.InitContainers))
	}
	c := pod.Containers[0]
	if c.Image != "jetflow/"+w.Name {
		t.Errorf("image %q, want jetflow/%s (overlays set registry and tag)", c.Image, w.Name)
	}
	sc := c.SecurityContext
	switch {
	case sc == nil:
		t.Fatal("no container securityContext")
	case sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem:
		t.Error("root file system is writable")
	case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
		t.Error("privilege escalation is allowed")
	case sc.Privileged != nil && *sc.Privileged:
		t.Error("container is privileged")
	case sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) > 0:
		t.Errorf("capabilities %+v, want drop [ALL] and nothing added", sc.Capabilities)
	}
	for _, p := range []struct {
		name  string
		probe *corev1.Probe
		path  string
	}{
		{"startup", c.StartupProbe, "/healthz"},
		{"liveness", c.LivenessProbe, "/healthz"},
		{"readiness", c.ReadinessProbe, "/readyz"},
	} {
		if p.probe == nil || p.probe.HTTPGet == nil {
			t.Errorf("no HTTP %s probe", p.name)
			continue
		}
		if p.probe.HTTPGet.Path != p.path || containerPort(c, p.probe.HTTPGet.Port) != healthPort {
			t.Errorf("%s probe on %s port %s, want %s on %d", p.name, p.probe.HTTPGet.Path, p.probe.HTTPGet.Port.String(), p.path, healthPort)
		}
	}
	env := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		if _, dup := env[e.Name]; dup {
			t.Errorf("env %s is set twice", e.Name)
		}
		env[e.Name] = e
	}
	if env["HEALTH_ADDR"].Value != ":"+strconv.Itoa(healthPort) {
		t.Errorf("HEALTH_ADDR %q, want :%d", env["HEALTH_ADDR"].Value, healthPort)
	}
	for _, name := range append([]string{"NATS_URL", "NATS_NKEY", "LOG_LEVEL", "GOMEMLIMIT", "OTEL_EXPORTER_OTLP_ENDPOINT"}, w.Env...) {
		if _, ok := env[name]; !ok {
			t.Errorf("env %s is not set", name)
		}
	}
	// The ScaledObject is sized from w.Concurrency; a stage left at the worker's built-in default
	// would hold a different number of messages per replica.
	if len(w.ConcurrencyEnv) != len(w.Consumers) {
		t.Errorf("%d concurrency variables %v for %d stages %v, want one per stage", len(w.ConcurrencyEnv), w.ConcurrencyEnv, len(w.Consumers), w.Consumers)
	}
	for _, name := range w.ConcurrencyEnv {
		if e, ok := env[name]; !ok || e.ValueFrom != nil || e.Value != strconv.Itoa(w.Concurrency) {
			t.Errorf("env %s is %q (set %v), want %d: the ScaledObject is sized for it", name, e.Value, ok, w.Concurrency)
		}
	}
	checkCredentials(t, w, pod, c, env["NATS_NKEY"].Value)
	checkResources(t, c, env["GOMEMLIMIT"].Value)
}

// checkCredentials: the NATS seed comes from the worker's own Secret, mounted read-only.
func checkCredentials(t *testing.T, w Worker, pod corev1.PodSpec, c corev1.Container, path string) {
	t.Helper()
	for _, m := range c.VolumeMounts {
		if !strings.HasPrefix(path, m.MountPath+"/") {
			continue
		}
		if !m.ReadOnly {
			t.Errorf("volume %s with the NATS credentials is writable", m.Name)
		}
		for _, v := range pod.Volumes {
			if v.Name == m.Name {
				if v.Secret == nil || v.Secret.SecretName != "jetflow-nats-"+w.Name {
					t.Errorf("NATS credentials come from %+v, want Secret jetflow-nats-%s", v.VolumeSource, w.Name)
				}
				return
			}
		}
	}
	t.Errorf("NATS_NKEY %q is not in a mounted volume", path)
}

func checkResources(t *testing.T, c corev1.Container, goMemLimit string) {
	t.Helper()
	req, lim := c.Resources.Requests, c.Resources.Limits
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		rq, okReq := req[r]
		l, okLim := lim[r]
		if !okReq || !okLim {
			t.Errorf("%s request or limit not set", r)
			continue
		}
		if rq.Cmp(l) > 0 {
			t.Errorf("%s request %s above limit %s", r, rq.String(), l.String())
		}
	}
	mem := lim[corev1.ResourceMemory]
	gml, err := resource.ParseQuantity(strings.TrimSuffix(goMemLimit, "B"))
	if err != nil {
		t.Errorf("GOMEMLIMIT %q: %v", goMemLimit, err)
	} else if gml.Cmp(mem) >= 0 {
		t.Errorf("GOMEMLIMIT %s is not below the memory limit %s", goMemLimit, mem.String())
	}
}

// containerPort resolves a probe port (number or name) to a container port number.
func containerPort(c corev1.Container, p intstr.IntOrString) int {
	if p.Type == intstr.Int {
		return p.IntValue()
	}
	for _, cp := range c.Ports {
		if cp.Name == p.StrVal {
			return int(cp.ContainerPort)
		}
	}
	return -1
}

func TestRBAC(t *testing.T) {
	objs := manifestFiles(t, dirBase)
	sas := all[*corev1.ServiceAccount](objs)
	if len(sas) != 1 || sas[0].Name != "pipeline-bridge" {
		t.Fatalf("ServiceAccounts %v, want only pipeline-bridge", sas)
	}
	roles := all[*rbacv1.Role](objs)
	if len(roles) != 1 {
		t.Fatalf("%d Roles, want 1", len(roles))
	}
	want := []rbacv1.PolicyRule{{APIGroups: []string{"argoproj.io"}, Resources: []string{"workflows"}, Verbs: []string{"create", "get", "list", "watch"}}}
	if got := roles[0].Rules; len(got) != 1 || !slices.Equal(got[0].APIGroups, want[0].APIGroups) ||
		!slices.Equal(got[0].Resources, want[0].Resources) || !slices.Equal(got[0].Verbs, want[0].Verbs) ||
		len(got[0].ResourceNames) > 0 || len(got[0].NonResourceURLs) > 0 {
		t.Errorf("Role rules %+v, want exactly %+v", got, want)
	}
	bindings := all[*rbacv1.RoleBinding](objs)
	if len(bindings) != 1 {
		t.Fatalf("%d RoleBindings, want 1", len(bindings))
	}
	b := bindings[0]
	if b.RoleRef.Kind != "Role" || b.RoleRef.Name != roles[0].Name ||
		len(b.Subjects) != 1 || b.Subjects[0].Kind != "ServiceAccount" || b.Subjects[0].Name != sas[0].Name {
		t.Errorf("RoleBinding %+v does not bind Role %s to ServiceAccount %s only", b, roles[0].Name, sas[0].Name)
	}
	if len(all[*rbacv1.ClusterRole](objs))+len(all[*rbacv1.ClusterRoleBinding](objs)) > 0 {
		t.Error("cluster-wide RBAC")
	}
	// Every pod is covered by a policy, so nothing reaches a port it does not serve.
	for _, d := range all[*appsv1.Deployment](objs) {
		covered := slices.ContainsFunc(all[*networkingv1.NetworkPolicy](objs), func(np *networkingv1.NetworkPolicy) bool {
			return labels.SelectorFromSet(np.Spec.PodSelector.MatchLabels).Matches(labels.Set(d.Spec.Template.Labels))
		})
		if !covered {
			t.Errorf("no NetworkPolicy covers %s", d.Name)
		}
	}
}

// TestScaledObjects checks each worker's ScaledObject: KEDA's own validation, one
// nats-jetstream trigger per consumer the worker serves (and no other), naming streams and
// consumers that exist in streams/ in the account the streams live in. The prometheus
// triggers that tell the formula a stage is stalled are checked in keda_breaker_test.go.
func TestScaledObjects(t *testing.T) {
	objs := manifestFiles(t, dirBase)
	set := loadStreams(t)
	sos := all[*kedav1alpha1.ScaledObject](objs)
	if len(sos) != len(Workers()) {
		t.Errorf("%d ScaledObjects, want one per worker (%d)", len(sos), len(Workers()))
	}
	metadataKeys := []string{"account", "activationLagThreshold", "consumer", "lagThreshold", "natsServerMonitoringEndpoint", "stream"}
	for _, w := range Workers() {
		t.Run(w.Name, func(t *testing.T) {
			so, ok := find[*kedav1alpha1.ScaledObject](objs, "ScaledObject", w.Name)
			if !ok {
				t.Fatalf("no ScaledObject %s", w.Name)
			}
			if ref := so.Spec.ScaleTargetRef; ref == nil || ref.Name != w.Name || (ref.Kind != "" && ref.Kind != "Deployment") {
				t.Errorf("scaleTargetRef %+v, want Deployment %s", ref, w.Name)
			}
			for _, err := range []error{kedav1alpha1.ValidateTriggers(so.Spec.Triggers), kedav1alpha1.CheckReplicaCountBoundsAreValid(so), kedav1alpha1.CheckFallbackValid(so)} {
				if err != nil {
					t.Errorf("KEDA rejects it: %v", err)
				}
			}
			if so.Spec.MaxReplicaCount == nil {
				t.Fatal("no maxReplicaCount")
			}
			var consumers []string
			for _, tr := range so.Spec.Triggers {
				if tr.Type == "prometheus" {
					continue // a <consumer>-stalled trigger: keda_breaker_test.go checks those
				}
				if tr.Type != "nats-jetstream" {
					t.Errorf("trigger %s type %q", tr.Name, tr.Type)
					continue
				}
				md := tr.Metadata
				consumers = append(consumers, md["consumer"])
				if keys := slices.Sorted(maps.Keys(md)); !slices.Equal(keys, metadataKeys) {
					t.Errorf("trigger %s metadata keys %v, want %v", tr.Name, keys, metadataKeys)
				}
				if tr.Name != md["consumer"] {
					t.Errorf("trigger name %q, want the consumer name %q", tr.Name, md["consumer"])
				}
				stream, cfg, ok := set.Consumer(md["consumer"])
				if !ok || stream != md["stream"] {
					t.Errorf("trigger %s: consumer %s of stream %s is not in streams/", tr.Name, md["consumer"], md["stream"])
					continue
				}
				if md["account"] != kedaAccount {
					t.Errorf("trigger %s account %q, want %s (deploy/nats/accounts.conf)", tr.Name, md["account"], kedaAccount)
				}
				ep := md["natsServerMonitoringEndpoint"]
				if host, port, err := net.SplitHostPort(ep); err != nil || strings.Contains(ep, "://") || host == "" || port != "8222" {
					t.Errorf("trigger %s endpoint %q, want host:8222 without a scheme", tr.Name, ep)
				}
				lag, err1 := strconv.Atoi(md["lagThreshold"])
				act, err2 := strconv.Atoi(md["activationLagThreshold"])
				if err1 != nil || err2 != nil || lag < 1 || act < 0 {
					t.Errorf("trigger %s lagThreshold %q activationLagThreshold %q", tr.Name, md["lagThreshold"], md["activationLagThreshold"])
				}
				if lag < w.Concurrency {
					t.Errorf("trigger %s lagThreshold %d below one replica's concurrency %d: a replica that is merely busy would ask for more", tr.Name, lag, w.Concurrency)
				}
				if n := int(*so.Spec.MaxReplicaCount) * w.Concurrency; n > cfg.MaxAckPending {
					t.Errorf("maxReplicaCount x concurrency = %d exceeds max_ack_pending %d of %s: replicas would idle", n, cfg.MaxAckPending, md["consumer"])
				}
			}
			if !slices.Equal(slices.Sorted(slices.Values(consumers)), slices.Sorted(slices.Values(w.Consumers))) {
				t.Errorf("triggers on %v, want exactly the worker's consumers %v", consumers, w.Consumers)
			}
		})
	}
}

func TestPipelineAllowList(t *testing.T) {
	data := readFile(t, filepath.Join(dirBase, "pipelines.yaml"))
	if _, err := pipeline.ParseAllowList(data, ""); err != nil {
		t.Errorf("the base allow-list does not load: %v", err)
	}
}

func TestDockerfile(t *testing.T) {
	data := string(readFile(t, "Dockerfile"))
	var from []string
	for _, line := range strings.Split(data, "\n") {
		if f, ok := strings.CutPrefix(line, "FROM "); ok {
			from = append(from, f)
		}
	}
	if len(from) != 2 || !strings.HasPrefix(from[0], "golang:1.26 ") || from[1] != "gcr.io/distroless/static-debian12:nonroot" {
		t.Errorf("stages %q, want a golang:1.26 builder and gcr.io/distroless/static-debian12:nonroot", from)
	}
	final := data[strings.LastIndex(data, "\nFROM "):]
	for _, want := range []string{"\nUSER nonroot", "\nEXPOSE 8080", "\nENTRYPOINT [\"/usr/local/bin/worker\"]"} {
		if !strings.Contains(final, want) {
			t.Errorf("final stage lacks %q", strings.TrimSpace(want))
		}
	}
	build := data[:strings.LastIndex(data, "\nFROM ")]
	for _, want := range []string{"ARG BINARY", "COPY go.mod go.sum ./", "go mod download", "CGO_ENABLED=0", "-trimpath", "-tags grpcnotrace", `-ldflags="-s -w -X github.com/jetflow-dev/jetflow/internal/buildinfo.version=${VERSION}"`, `"./cmd/${BINARY}"`} {
		if !strings.Contains(build, want) {
			t.Errorf("build stage lacks %q", want)
		}
	}
	if strings.Index(build, "go mod download") > strings.Index(build, "COPY . .") {
		t.Error("modules are downloaded after the sources are copied: the download layer is rebuilt on every change")
	}
	for _, w := range append(Workers(), Gateway()) {
		if _, err := os.Stat(filepath.Join("..", "cmd", w.Name)); err != nil {
			t.Errorf("the image of %s cannot be built: %v", w.Name, err)
		}
	}
}
