package deploy

import (
	"slices"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// TestGatewayManifests checks the gateway's Deployment by the workers' rules (security, probes
// on the health port, its own NATS Secret, resources) and what is its own: the keys Secret
// mounted as a directory, the API port behind the Service, the HorizontalPodAutoscaler on CPU
// and a PodDisruptionBudget that leaves a replica.
func TestGatewayManifests(t *testing.T) {
	objs := manifestFiles(t, dirBase)
	gw := Gateway()
	d, ok := find[*appsv1.Deployment](objs, "Deployment", GatewayName)
	if !ok {
		t.Fatalf("no Deployment %s", GatewayName)
	}
	checkDeployment(t, gw, d)
	pod := d.Spec.Template.Spec
	c := pod.Containers[0]
	env := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		env[e.Name] = e
	}
	if v := env["GATEWAY_KEYS_FILE"].Value; v != GatewayKeysFile {
		t.Errorf("GATEWAY_KEYS_FILE %q, want %s", v, GatewayKeysFile)
	}
	if v := env["DEAD_LETTER_ADVISORIES"].Value; v != "false" {
		t.Errorf("DEAD_LETTER_ADVISORIES %q, want false: the gateway's NATS user may not run the catcher", v)
	}
	if v := env["GATEWAY_ADDR"].Value; v != ":8081" || containerPort(c, intstr.FromString("api")) != GatewayAPIPort {
		t.Errorf("GATEWAY_ADDR %q, port api %d; want :%d on both", v, containerPort(c, intstr.FromString("api")), GatewayAPIPort)
	}
	checkKeysMount(t, pod, c)
	if c.Lifecycle == nil || c.Lifecycle.PreStop == nil || c.Lifecycle.PreStop.Sleep == nil || c.Lifecycle.PreStop.Sleep.Seconds < 1 {
		t.Error("no preStop sleep: the pod would stop accepting while the Service still sends it calls")
	}
	if _, ok := c.Resources.Requests[corev1.ResourceCPU]; !ok {
		t.Error("no CPU request: the HorizontalPodAutoscaler's utilization has no base")
	}

	svc, ok := find[*corev1.Service](objs, "Service", GatewayName)
	if !ok {
		t.Fatalf("no Service %s", GatewayName)
	}
	if !labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(d.Spec.Template.Labels)) {
		t.Error("the Service does not select the gateway's pods")
	}
	if len(svc.Spec.Ports) != 1 || containerPort(c, svc.Spec.Ports[0].TargetPort) != GatewayAPIPort {
		t.Errorf("Service ports %+v, want one to the API port %d (not the health port)", svc.Spec.Ports, GatewayAPIPort)
	}

	hpa, ok := find[*autoscalingv2.HorizontalPodAutoscaler](objs, "HorizontalPodAutoscaler", GatewayName)
	if !ok {
		t.Fatalf("no HorizontalPodAutoscaler %s", GatewayName)
	}
	if ref := hpa.Spec.ScaleTargetRef; ref.Kind != "Deployment" || ref.Name != GatewayName || ref.APIVersion != "apps/v1" {
		t.Errorf("scaleTargetRef %+v, want Deployment %s", ref, GatewayName)
	}
	if hpa.Spec.MinReplicas == nil || *hpa.Spec.MinReplicas < 2 || hpa.Spec.MaxReplicas < *hpa.Spec.MinReplicas {
		t.Errorf("replicas %v..%d, want at least 2 (the PodDisruptionBudget lets one go)", hpa.Spec.MinReplicas, hpa.Spec.MaxReplicas)
	}
	if m := hpa.Spec.Metrics; len(m) != 1 || m[0].Type != autoscalingv2.ResourceMetricSourceType || m[0].Resource == nil ||
		m[0].Resource.Name != corev1.ResourceCPU || m[0].Resource.Target.Type != autoscalingv2.UtilizationMetricType ||
		m[0].Resource.Target.AverageUtilization == nil {
		t.Errorf("metrics %+v, want CPU utilization only", m)
	}

	pdb, ok := find[*policyv1.PodDisruptionBudget](objs, "PodDisruptionBudget", GatewayName)
	if !ok {
		t.Fatalf("no PodDisruptionBudget %s", GatewayName)
	}
	if sel, err := metav1LabelSelector(pdb); err != nil || !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
		t.Errorf("PodDisruptionBudget does not select the pods (%v)", err)
	}
	if pdb.Spec.MaxUnavailable == nil || pdb.Spec.MaxUnavailable.IntValue() != 1 {
		t.Errorf("maxUnavailable %v, want 1", pdb.Spec.MaxUnavailable)
	}

	// The API port is open to clients; no worker's is.
	for _, np := range all[*networkingv1.NetworkPolicy](objs) {
		sel := labels.SelectorFromSet(np.Spec.PodSelector.MatchLabels)
		opensAPI := slices.ContainsFunc(np.Spec.Ingress, func(r networkingv1.NetworkPolicyIngressRule) bool {
			return slices.ContainsFunc(r.Ports, func(p networkingv1.NetworkPolicyPort) bool {
				return p.Port != nil && p.Port.IntValue() == GatewayAPIPort
			})
		})
		if sel.Matches(labels.Set(d.Spec.Template.Labels)) && !opensAPI {
			t.Errorf("NetworkPolicy %s covers the gateway but not its API port", np.Name)
		}
		for _, w := range all[*appsv1.Deployment](objs) {
			if w.Name != GatewayName && opensAPI && sel.Matches(labels.Set(w.Spec.Template.Labels)) {
				t.Errorf("NetworkPolicy %s opens port %d on worker %s", np.Name, GatewayAPIPort, w.Name)
			}
		}
	}
}

// checkKeysMount: the key file comes from the keys Secret, mounted read-only as a directory;
// a subPath mount would never see an update.
func checkKeysMount(t *testing.T, pod corev1.PodSpec, c corev1.Container) {
	t.Helper()
	for _, m := range c.VolumeMounts {
		if m.MountPath+"/keys.json" != GatewayKeysFile {
			continue
		}
		if !m.ReadOnly || m.SubPath != "" || m.SubPathExpr != "" {
			t.Errorf("keys mount %+v: want read-only, without subPath (updates would never arrive)", m)
		}
		for _, v := range pod.Volumes {
			if v.Name == m.Name && (v.Secret == nil || v.Secret.SecretName != GatewayKeysSecret || len(v.Secret.Items) > 0) {
				t.Errorf("keys volume %+v, want all of Secret %s", v.VolumeSource, GatewayKeysSecret)
			}
		}
		return
	}
	t.Errorf("%s is not in a mounted volume", GatewayKeysFile)
}
