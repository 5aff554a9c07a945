package streams

import (
	"maps"
	"slices"

	"github.com/nats-io/nats.go/jetstream"
)

// Set is a validated collection of definitions, as returned by Load. Lists come in a stable
// order (streams and buckets by name, consumers by stream then name), which is also the order
// Apply writes them in. Accessors return copies: changing a returned config never changes the
// Set.
type Set struct {
	streams   []streamDef
	consumers []consumerDef
	buckets   []bucketDef
}

// ConsumerDef is a consumer definition together with the stream it belongs to (the directory
// its file is in).
type ConsumerDef struct {
	Stream string
	Config jetstream.ConsumerConfig
}

// fields holds what a file sets, decoded into generic JSON values with json.Number numbers: the
// only fields Apply and Diff compare, so defaults the server fills in never show as drift.
type fields = map[string]any

type streamDef struct {
	file   string
	cfg    jetstream.StreamConfig
	fields fields
}

type consumerDef struct {
	file   string
	stream string
	cfg    jetstream.ConsumerConfig
	fields fields
}

type bucketDef struct {
	file   string
	cfg    jetstream.KeyValueConfig
	fields fields
}

// Streams returns every stream definition, sorted by name.
func (s *Set) Streams() []jetstream.StreamConfig {
	out := make([]jetstream.StreamConfig, 0, len(s.streams))
	for _, d := range s.streams {
		out = append(out, cloneStream(d.cfg))
	}
	return out
}

// Stream returns the definition of the named stream.
func (s *Set) Stream(name string) (jetstream.StreamConfig, bool) {
	for _, d := range s.streams {
		if d.cfg.Name == name {
			return cloneStream(d.cfg), true
		}
	}
	return jetstream.StreamConfig{}, false
}

// Consumers returns every consumer definition, sorted by stream, then name.
func (s *Set) Consumers() []ConsumerDef {
	out := make([]ConsumerDef, 0, len(s.consumers))
	for _, d := range s.consumers {
		out = append(out, ConsumerDef{Stream: d.stream, Config: cloneConsumer(d.cfg)})
	}
	return out
}

// Consumer returns the definition of the named consumer and the stream it belongs to.
// Consumer names are unique across all streams, so the name alone finds it.
func (s *Set) Consumer(name string) (stream string, cfg jetstream.ConsumerConfig, ok bool) {
	for _, d := range s.consumers {
		if d.cfg.Durable == name {
			return d.stream, cloneConsumer(d.cfg), true
		}
	}
	return "", jetstream.ConsumerConfig{}, false
}

// Buckets returns every KV bucket definition, sorted by name.
func (s *Set) Buckets() []jetstream.KeyValueConfig {
	out := make([]jetstream.KeyValueConfig, 0, len(s.buckets))
	for _, d := range s.buckets {
		out = append(out, cloneBucket(d.cfg))
	}
	return out
}

// Bucket returns the definition of the named KV bucket.
func (s *Set) Bucket(name string) (jetstream.KeyValueConfig, bool) {
	for _, d := range s.buckets {
		if d.cfg.Bucket == name {
			return cloneBucket(d.cfg), true
		}
	}
	return jetstream.KeyValueConfig{}, false
}

func cloneStream(c jetstream.StreamConfig) jetstream.StreamConfig {
	c.Subjects = slices.Clone(c.Subjects)
	c.Metadata = maps.Clone(c.Metadata)
	c.Placement = clonePlacement(c.Placement)
	c.Sources = slices.Clone(c.Sources)
	return c
}

func cloneConsumer(c jetstream.ConsumerConfig) jetstream.ConsumerConfig {
	c.BackOff = slices.Clone(c.BackOff)
	c.FilterSubjects = slices.Clone(c.FilterSubjects)
	c.Metadata = maps.Clone(c.Metadata)
	c.PriorityGroups = slices.Clone(c.PriorityGroups)
	return c
}

func cloneBucket(c jetstream.KeyValueConfig) jetstream.KeyValueConfig {
	c.Metadata = maps.Clone(c.Metadata)
	c.Placement = clonePlacement(c.Placement)
	return c
}

func clonePlacement(p *jetstream.Placement) *jetstream.Placement {
	if p == nil {
		return nil
	}
	c := *p
	c.Tags = slices.Clone(p.Tags)
	return &c
}
