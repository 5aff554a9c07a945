package deploy

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	kedav1alpha1 "github.com/kedacore/keda/v2/apis/keda/v1alpha1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"github.com/jetflow-dev/jetflow/deploy/nack"
)

// Kustomize directories, relative to deploy/.
const (
	dirBase    = "kubernetes/base"
	dirNACK    = "kubernetes/base/nack"
	dirExample = "kubernetes/overlays/example"
)

// object is one decoded manifest.
type object struct {
	source    string // file, or "kustomize build <dir>"
	kind      string
	name      string
	namespace string
	obj       any
}

// newTyped returns an empty typed object for a kind, or nil for kinds the tests do not know.
func newTyped(apiVersion, kind string) any {
	switch apiVersion + " " + kind {
	case "apps/v1 Deployment":
		return &appsv1.Deployment{}
	case "policy/v1 PodDisruptionBudget":
		return &policyv1.PodDisruptionBudget{}
	case "v1 ServiceAccount":
		return &corev1.ServiceAccount{}
	case "v1 Service":
		return &corev1.Service{}
	case "autoscaling/v2 HorizontalPodAutoscaler":
		return &autoscalingv2.HorizontalPodAutoscaler{}
	case "v1 ConfigMap":
		return &corev1.ConfigMap{}
	case "v1 Namespace":
		return &corev1.Namespace{}
	case "rbac.authorization.k8s.io/v1 Role":
		return &rbacv1.Role{}
	case "rbac.authorization.k8s.io/v1 RoleBinding":
		return &rbacv1.RoleBinding{}
	case "networking.k8s.io/v1 NetworkPolicy":
		return &networkingv1.NetworkPolicy{}
	case "keda.sh/v1alpha1 ScaledObject":
		return &kedav1alpha1.ScaledObject{}
	case nack.APIVersion + " " + nack.KindStream:
		return &nack.Stream{}
	case nack.APIVersion + " " + nack.KindConsumer:
		return &nack.Consumer{}
	case nack.APIVersion + " " + nack.KindKeyValue:
		return &nack.KeyValue{}
	}
	return nil
}

var docSeparator = regexp.MustCompile(`(?m)^---\s*$`)

// decodeStrict decodes every YAML document of data into its typed object; unknown and
// duplicate fields are errors.
func decodeStrict(source string, data []byte) ([]object, error) {
	var out []object
	for _, doc := range docSeparator.Split(string(data), -1) {
		if strings.TrimSpace(stripComments(doc)) == "" {
			continue
		}
		var head struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Metadata   struct {
				Name      string `json:"name"`
				Namespace string `json:"namespace"`
			} `json:"metadata"`
		}
		if err := yaml.Unmarshal([]byte(doc), &head); err != nil {
			return nil, fmt.Errorf("%s: %w", source, err)
		}
		typed := newTyped(head.APIVersion, head.Kind)
		if typed == nil {
			return nil, fmt.Errorf("%s: no Go type known for %s %s", source, head.APIVersion, head.Kind)
		}
		if err := yaml.UnmarshalStrict([]byte(doc), typed); err != nil {
			return nil, fmt.Errorf("%s: %s %s: %w", source, head.Kind, head.Metadata.Name, err)
		}
		out = append(out, object{source: source, kind: head.Kind, name: head.Metadata.Name, namespace: head.Metadata.Namespace, obj: typed})
	}
	return out, nil
}

func stripComments(doc string) string {
	var b strings.Builder
	for _, line := range strings.Split(doc, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "#") {
			b.WriteString(line + "\n")
		}
	}
	return b.String()
}

// manifestFiles decodes every YAML file under dir except kustomizations.
func manifestFiles(t *testing.T, dir string) []object {
	t.Helper()
	var out []object
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || filepath.Ext(p) != ".yaml" || filepath.Base(p) == "kustomization.yaml" {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if p == filepath.Join(dirBase, "pipelines.yaml") {
			return nil // not a manifest: the allow-list the ConfigMap carries
		}
		objs, err := decodeStrict(p, data)
		if err != nil {
			t.Error(err)
		}
		out = append(out, objs...)
		return nil
	})
	if err != nil {
		t.Fatalf("walking %s: %v", dir, err)
	}
	return out
}

// build runs kustomize in-process on dir and decodes the result strictly.
func build(t *testing.T, dir string) []object {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	res, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	var out []object
	for _, r := range res.Resources() {
		data, err := r.AsYAML()
		if err != nil {
			t.Fatalf("encoding %s: %v", r.CurId(), err)
		}
		objs, err := decodeStrict("kustomize build "+dir, data)
		if err != nil {
			t.Error(err)
			continue
		}
		out = append(out, objs...)
	}
	return out
}

func find[T any](objs []object, kind, name string) (T, bool) {
	var zero T
	for _, o := range objs {
		if o.kind == kind && o.name == name {
			if v, ok := o.obj.(T); ok {
				return v, true
			}
		}
	}
	return zero, false
}

func all[T any](objs []object) []T {
	var out []T
	for _, o := range objs {
		if v, ok := o.obj.(T); ok {
			out = append(out, v)
		}
	}
	return out
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSpace(data)
}
