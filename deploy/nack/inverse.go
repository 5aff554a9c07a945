package nack

import (
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// StreamConfigFrom is what NACK's controller asks the server for, given spec: the inverse of
// StreamSpecFor, used to prove that a generated resource carries every field of its definition.
// Unlimited values come back as -1, as the server reports them.
func StreamConfigFrom(s StreamSpec) (jetstream.StreamConfig, error) {
	c := jetstream.StreamConfig{
		Name:              s.Name,
		Description:       s.Description,
		Subjects:          slices.Clone(s.Subjects),
		MaxConsumers:      int(unlimited(s.MaxConsumers)),
		MaxMsgs:           unlimited(s.MaxMsgs),
		MaxBytes:          unlimited(s.MaxBytes),
		MaxMsgsPerSubject: unlimited(s.MaxMsgsPerSubject),
		MaxMsgSize:        int32(unlimited(s.MaxMsgSize)),
		Replicas:          s.Replicas,
		AllowDirect:       s.AllowDirect,
	}
	var err error
	if c.MaxAge, err = parseDuration("maxAge", s.MaxAge); err != nil {
		return c, err
	}
	if c.Duplicates, err = parseDuration("duplicateWindow", s.DuplicateWindow); err != nil {
		return c, err
	}
	if c.Retention, err = value(retentions, s.Retention); err != nil {
		return c, fmt.Errorf("retention: %w", err)
	}
	if c.Storage, err = value(storages, s.Storage); err != nil {
		return c, fmt.Errorf("storage: %w", err)
	}
	if c.Discard, err = value(discards, s.Discard); err != nil {
		return c, fmt.Errorf("discard: %w", err)
	}
	return c, nil
}

// ConsumerConfigFrom is the inverse of ConsumerSpecFor.
func ConsumerConfigFrom(s ConsumerSpec) (jetstream.ConsumerConfig, error) {
	c := jetstream.ConsumerConfig{
		Durable:        s.DurableName,
		Description:    s.Description,
		MaxDeliver:     s.MaxDeliver,
		FilterSubject:  s.FilterSubject,
		FilterSubjects: slices.Clone(s.FilterSubjects),
		MaxAckPending:  s.MaxAckPending,
		MaxWaiting:     s.MaxWaiting,
		Replicas:       s.Replicas,
	}
	var err error
	if c.AckWait, err = parseDuration("ackWait", s.AckWait); err != nil {
		return c, err
	}
	if c.InactiveThreshold, err = parseDuration("inactiveThreshold", s.InactiveThreshold); err != nil {
		return c, err
	}
	for _, b := range s.BackOff {
		d, err := parseDuration("backoff", b)
		if err != nil {
			return c, err
		}
		c.BackOff = append(c.BackOff, d)
	}
	if c.DeliverPolicy, err = value(deliverPolicies, s.DeliverPolicy); err != nil {
		return c, fmt.Errorf("deliverPolicy: %w", err)
	}
	if c.AckPolicy, err = value(ackPolicies, s.AckPolicy); err != nil {
		return c, fmt.Errorf("ackPolicy: %w", err)
	}
	if c.ReplayPolicy, err = value(replayPolicies, s.ReplayPolicy); err != nil {
		return c, fmt.Errorf("replayPolicy: %w", err)
	}
	return c, nil
}

// KeyValueConfigFrom is the inverse of KeyValueSpecFor.
func KeyValueConfigFrom(s KeyValueSpec) (jetstream.KeyValueConfig, error) {
	c := jetstream.KeyValueConfig{
		Bucket:       s.Bucket,
		Description:  s.Description,
		MaxValueSize: int32(unlimited(s.MaxValueSize)),
		History:      uint8(s.History),
		MaxBytes:     unlimited(s.MaxBytes),
		Replicas:     s.Replicas,
	}
	if s.History < 0 || s.History > jetstream.KeyValueMaxHistory {
		return c, fmt.Errorf("history %d outside 0..%d", s.History, jetstream.KeyValueMaxHistory)
	}
	var err error
	if c.TTL, err = parseDuration("ttl", s.TTL); err != nil {
		return c, err
	}
	if c.Storage, err = value(storages, s.Storage); err != nil {
		return c, fmt.Errorf("storage: %w", err)
	}
	return c, nil
}

func unlimited(n int) int64 {
	if n <= 0 {
		return -1
	}
	return int64(n)
}

func parseDuration(field, s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", field, err)
	}
	return d, nil
}

// normalStream, normalConsumer and normalBucket spell a definition the way the inverse
// functions return it: limits of 0 or -1 as -1, an empty backoff list as none.
func normalStream(c jetstream.StreamConfig) jetstream.StreamConfig {
	c.MaxConsumers = int(unlimited(int(min(int64(c.MaxConsumers), maxInt))))
	c.MaxMsgs = unlimited(int(min(c.MaxMsgs, maxInt)))
	c.MaxBytes = unlimited(int(min(c.MaxBytes, maxInt)))
	c.MaxMsgsPerSubject = unlimited(int(min(c.MaxMsgsPerSubject, maxInt)))
	c.MaxMsgSize = int32(unlimited(int(c.MaxMsgSize)))
	return c
}

func normalConsumer(c jetstream.ConsumerConfig) jetstream.ConsumerConfig {
	if len(c.BackOff) == 0 {
		c.BackOff = nil
	}
	if len(c.FilterSubjects) == 0 {
		c.FilterSubjects = nil
	}
	return c
}

func normalBucket(c jetstream.KeyValueConfig) jetstream.KeyValueConfig {
	c.MaxValueSize = int32(unlimited(int(c.MaxValueSize)))
	c.MaxBytes = unlimited(int(min(c.MaxBytes, maxInt)))
	return c
}

const maxInt = int64(^uint(0) >> 1)
