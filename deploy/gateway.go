package deploy

// GatewayName names the gateway's binary (cmd/gateway), image, Deployment, Service,
// PodDisruptionBudget, HorizontalPodAutoscaler and NATS user.
const GatewayName = "gateway"

// Where the gateway's Deployment puts things (deploy/kubernetes/base/gateway).
const (
	// GatewayAPIPort serves the API (GATEWAY_ADDR), the Service's target.
	GatewayAPIPort = 8081
	// GatewayKeysSecret holds the callers' key file, key keys.json, mounted as a directory so
	// that updates reach the pod.
	GatewayKeysSecret = "jetflow-gateway-keys"
	// GatewayKeysFile is GATEWAY_KEYS_FILE in the pod.
	GatewayKeysFile = "/var/run/secrets/jetflow/gateway-keys/keys.json"
)

// Gateway returns the gateway in the shape of a Worker, for what it shares with them: the
// Deployment's conventions, the image and the footprint measurement. It is not one of Workers():
// it serves no consumer, so KEDA does not scale it (a HorizontalPodAutoscaler on CPU does), and
// its NATS user is tested by what it does (natsconf_gateway_test.go).
func Gateway() Worker {
	return Worker{
		Name: GatewayName,
		Env: []string{
			"GATEWAY_ADDR", "GATEWAY_KEYS_FILE", "GATEWAY_KEYS_RELOAD_INTERVAL", "GATEWAY_GRACE_PERIOD",
			"DEAD_LETTER_ADVISORIES",
		},
	}
}
