package nack

import (
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
)

// The enum values as NACK's controller spells them (it switches on these strings).
var (
	retentions = map[jetstream.RetentionPolicy]string{
		jetstream.LimitsPolicy:    "limits",
		jetstream.InterestPolicy:  "interest",
		jetstream.WorkQueuePolicy: "workqueue",
	}
	storages = map[jetstream.StorageType]string{
		jetstream.FileStorage:   "file",
		jetstream.MemoryStorage: "memory",
	}
	discards = map[jetstream.DiscardPolicy]string{
		jetstream.DiscardOld: "old",
		jetstream.DiscardNew: "new",
	}
	ackPolicies = map[jetstream.AckPolicy]string{
		jetstream.AckNonePolicy:     "none",
		jetstream.AckAllPolicy:      "all",
		jetstream.AckExplicitPolicy: "explicit",
	}
	// deliverPolicies leaves out by_start_sequence and by_start_time: they need start fields
	// that no stage uses.
	deliverPolicies = map[jetstream.DeliverPolicy]string{
		jetstream.DeliverAllPolicy:            "all",
		jetstream.DeliverLastPolicy:           "last",
		jetstream.DeliverNewPolicy:            "new",
		jetstream.DeliverLastPerSubjectPolicy: "lastPerSubject",
	}
	replayPolicies = map[jetstream.ReplayPolicy]string{
		jetstream.ReplayInstantPolicy:  "instant",
		jetstream.ReplayOriginalPolicy: "original",
	}
)

func name[K comparable](names map[K]string, k K) (string, error) {
	n, ok := names[k]
	if !ok {
		return "", fmt.Errorf("value %v has no NACK equivalent", k)
	}
	return n, nil
}

func value[K comparable](names map[K]string, n string) (K, error) {
	for k, v := range names {
		if v == n {
			return k, nil
		}
	}
	var zero K
	return zero, fmt.Errorf("unknown value %q", n)
}
