// Package deploy describes the workers as the deployment files under this directory see them
// (Dockerfile, kustomize manifests, KEDA ScaledObjects, NATS permissions, NACK resources), so
// that the tests beside it and the footprint tool check those files against one table instead
// of each spelling the names again.
//
// This directory is its own Go module (github.com/jetflow-dev/jetflow/deploy) because the KEDA
// and kustomize modules its tests decode manifests with have dependency graphs that would move
// the product's own versions; it uses the product's packages through a replace directive.
package deploy
