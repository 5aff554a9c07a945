package nack

// The types below mirror the fields of NACK's jetstream.nats.io/v1beta2 resources that the
// generator writes (github.com/nats-io/nack pkg/jetstream/apis/jetstream/v1beta2:
// streamtypes.go, consumertypes.go, keyvaluetypes.go, types.go), with NACK's JSON names. NACK
// itself is not a dependency: its module is not served by the module proxy, and only the field
// names matter here. Every field is omitempty so that a generated file states only what
// streams/ sets; NACK's controller leaves unset fields to the server's defaults.

// APIVersion is the group and version of NACK's resources.
const APIVersion = "jetstream.nats.io/v1beta2"

// Kinds of NACK resources.
const (
	KindStream   = "Stream"
	KindConsumer = "Consumer"
	KindKeyValue = "KeyValue"
)

// Meta is the part of Kubernetes' ObjectMeta a generated resource sets.
type Meta struct {
	Name string `json:"name"`
	// Namespace is left to kustomize (an overlay's namespace).
	Namespace string            `json:"namespace,omitempty"`
	Labels    map[string]string `json:"labels,omitempty"`
}

// Stream is a NACK Stream resource.
type Stream struct {
	APIVersion string     `json:"apiVersion"`
	Kind       string     `json:"kind"`
	Metadata   Meta       `json:"metadata"`
	Spec       StreamSpec `json:"spec"`
}

// StreamSpec is NACK's StreamSpec. Durations are Go duration strings (NACK decodes them as
// metav1.Duration).
type StreamSpec struct {
	Name              string   `json:"name"`
	Description       string   `json:"description,omitempty"`
	Subjects          []string `json:"subjects,omitempty"`
	Retention         string   `json:"retention,omitempty"`
	MaxConsumers      int      `json:"maxConsumers,omitempty"`
	MaxMsgsPerSubject int      `json:"maxMsgsPerSubject,omitempty"`
	MaxMsgs           int      `json:"maxMsgs,omitempty"`
	MaxBytes          int      `json:"maxBytes,omitempty"`
	MaxAge            string   `json:"maxAge,omitempty"`
	MaxMsgSize        int      `json:"maxMsgSize,omitempty"`
	Storage           string   `json:"storage,omitempty"`
	Discard           string   `json:"discard,omitempty"`
	Replicas          int      `json:"replicas,omitempty"`
	DuplicateWindow   string   `json:"duplicateWindow,omitempty"`
	AllowDirect       bool     `json:"allowDirect,omitempty"`
	// PreventDelete keeps the stream and its messages when the resource is deleted (for
	// example by `kubectl delete -k`).
	PreventDelete bool `json:"preventDelete,omitempty"`
}

// Consumer is a NACK Consumer resource.
type Consumer struct {
	APIVersion string       `json:"apiVersion"`
	Kind       string       `json:"kind"`
	Metadata   Meta         `json:"metadata"`
	Spec       ConsumerSpec `json:"spec"`
}

// ConsumerSpec is NACK's ConsumerSpec. Durations are Go duration strings.
type ConsumerSpec struct {
	StreamName        string   `json:"streamName"`
	DurableName       string   `json:"durableName"`
	Description       string   `json:"description,omitempty"`
	DeliverPolicy     string   `json:"deliverPolicy,omitempty"`
	AckPolicy         string   `json:"ackPolicy,omitempty"`
	AckWait           string   `json:"ackWait,omitempty"`
	MaxDeliver        int      `json:"maxDeliver,omitempty"`
	BackOff           []string `json:"backoff,omitempty"`
	FilterSubject     string   `json:"filterSubject,omitempty"`
	FilterSubjects    []string `json:"filterSubjects,omitempty"`
	ReplayPolicy      string   `json:"replayPolicy,omitempty"`
	MaxAckPending     int      `json:"maxAckPending,omitempty"`
	MaxWaiting        int      `json:"maxWaiting,omitempty"`
	InactiveThreshold string   `json:"inactiveThreshold,omitempty"`
	Replicas          int      `json:"replicas,omitempty"`
}

// KeyValue is a NACK KeyValue resource.
type KeyValue struct {
	APIVersion string       `json:"apiVersion"`
	Kind       string       `json:"kind"`
	Metadata   Meta         `json:"metadata"`
	Spec       KeyValueSpec `json:"spec"`
}

// KeyValueSpec is NACK's KeyValueSpec. TTL is a Go duration string.
type KeyValueSpec struct {
	Bucket        string `json:"bucket"`
	Description   string `json:"description,omitempty"`
	MaxValueSize  int    `json:"maxValueSize,omitempty"`
	History       int    `json:"history,omitempty"`
	TTL           string `json:"ttl,omitempty"`
	MaxBytes      int    `json:"maxBytes,omitempty"`
	Storage       string `json:"storage,omitempty"`
	Replicas      int    `json:"replicas,omitempty"`
	PreventDelete bool   `json:"preventDelete,omitempty"`
}
