package streams

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go/jetstream"
)

// resource is one stream, consumer or bucket as Apply and Diff see it: the fields its file
// sets, and how to read, create and update it on the server. Each read returns the live config
// in the same JSON shape as the file.
type resource interface {
	describe() Change
	want() fields
	// live returns the server's config, or found false when the resource does not exist.
	live(ctx context.Context, js jetstream.JetStream) (f fields, found bool, err error)
	create(ctx context.Context, js jetstream.JetStream) (fields, error)
	update(ctx context.Context, js jetstream.JetStream) (fields, error)
}

// resources lists the set in apply order: streams, then their consumers, then buckets.
func (s *Set) resources(o options) []resource {
	out := make([]resource, 0, len(s.streams)+len(s.consumers)+len(s.buckets))
	for _, d := range s.streams {
		r := &streamResource{cfg: cloneStream(d.cfg), fields: d.fields}
		if o.replicas > 0 {
			r.cfg.Replicas = o.replicas
			r.fields = withField(d.fields, "num_replicas", o.replicas)
		}
		out = append(out, r)
	}
	for _, d := range s.consumers {
		out = append(out, &consumerResource{stream: d.stream, cfg: cloneConsumer(d.cfg), fields: d.fields})
	}
	for _, d := range s.buckets {
		r := &bucketResource{cfg: cloneBucket(d.cfg), fields: d.fields}
		if o.replicas > 0 {
			r.cfg.Replicas = o.replicas
			r.fields = withField(d.fields, "num_replicas", o.replicas)
		}
		out = append(out, r)
	}
	return out
}

func withField(f fields, key string, n int) fields {
	c := maps.Clone(f)
	c[key] = json.Number(strconv.Itoa(n))
	return c
}

type streamResource struct {
	cfg    jetstream.StreamConfig
	fields fields
}

func (r *streamResource) describe() Change { return Change{Kind: KindStream, Name: r.cfg.Name} }
func (r *streamResource) want() fields     { return r.fields }

func (r *streamResource) live(ctx context.Context, js jetstream.JetStream) (fields, bool, error) {
	s, err := js.Stream(ctx, r.cfg.Name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	f, err := toFields(s.CachedInfo().Config)
	return f, err == nil, err
}

func (r *streamResource) create(ctx context.Context, js jetstream.JetStream) (fields, error) {
	s, err := js.CreateStream(ctx, r.cfg)
	if err != nil {
		return nil, err
	}
	return toFields(s.CachedInfo().Config)
}

func (r *streamResource) update(ctx context.Context, js jetstream.JetStream) (fields, error) {
	s, err := js.UpdateStream(ctx, r.cfg)
	if err != nil {
		return nil, err
	}
	return toFields(s.CachedInfo().Config)
}

type consumerResource struct {
	stream string
	cfg    jetstream.ConsumerConfig
	fields fields
}

func (r *consumerResource) describe() Change {
	return Change{Kind: KindConsumer, Name: r.cfg.Durable, Stream: r.stream}
}
func (r *consumerResource) want() fields { return r.fields }

func (r *consumerResource) live(ctx context.Context, js jetstream.JetStream) (fields, bool, error) {
	c, err := js.Consumer(ctx, r.stream, r.cfg.Durable)
	if errors.Is(err, jetstream.ErrConsumerNotFound) || errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	f, err := toFields(c.CachedInfo().Config)
	return f, err == nil, err
}

func (r *consumerResource) create(ctx context.Context, js jetstream.JetStream) (fields, error) {
	c, err := js.CreateConsumer(ctx, r.stream, r.cfg)
	if err != nil {
		return nil, err
	}
	return toFields(c.CachedInfo().Config)
}

func (r *consumerResource) update(ctx context.Context, js jetstream.JetStream) (fields, error) {
	c, err := js.UpdateConsumer(ctx, r.stream, r.cfg)
	if err != nil {
		return nil, err
	}
	return toFields(c.CachedInfo().Config)
}

// kvStreamPrefix names a bucket's backing stream, "KV_<bucket>" (nats.go and the server agree).
const kvStreamPrefix = "KV_"

type bucketResource struct {
	cfg    jetstream.KeyValueConfig
	fields fields
}

func (r *bucketResource) describe() Change { return Change{Kind: KindBucket, Name: r.cfg.Bucket} }
func (r *bucketResource) want() fields     { return r.fields }

// live reads the backing stream and maps it back to KeyValueConfig fields, the inverse of what
// nats.go does when it creates the bucket.
func (r *bucketResource) live(ctx context.Context, js jetstream.JetStream) (fields, bool, error) {
	s, err := js.Stream(ctx, kvStreamPrefix+r.cfg.Bucket)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	f, err := bucketFields(s.CachedInfo().Config)
	return f, err == nil, err
}

func (r *bucketResource) create(ctx context.Context, js jetstream.JetStream) (fields, error) {
	if _, err := js.CreateKeyValue(ctx, r.cfg); err != nil {
		return nil, err
	}
	return r.reread(ctx, js)
}

func (r *bucketResource) update(ctx context.Context, js jetstream.JetStream) (fields, error) {
	if _, err := js.UpdateKeyValue(ctx, r.cfg); err != nil {
		return nil, err
	}
	return r.reread(ctx, js)
}

func (r *bucketResource) reread(ctx context.Context, js jetstream.JetStream) (fields, error) {
	f, found, err := r.live(ctx, js)
	if err == nil && !found {
		err = jetstream.ErrStreamNotFound
	}
	return f, err
}

func bucketFields(sc jetstream.StreamConfig) (fields, error) {
	kv := jetstream.KeyValueConfig{
		Bucket:         strings.TrimPrefix(sc.Name, kvStreamPrefix),
		Description:    sc.Description,
		MaxValueSize:   sc.MaxMsgSize,
		TTL:            sc.MaxAge,
		MaxBytes:       sc.MaxBytes,
		Storage:        sc.Storage,
		Replicas:       sc.Replicas,
		Placement:      sc.Placement,
		Compression:    sc.Compression == jetstream.S2Compression,
		LimitMarkerTTL: sc.SubjectDeleteMarkerTTL,
		Metadata:       sc.Metadata,
	}
	f, err := toFields(kv)
	if err != nil {
		return nil, err
	}
	// history is max_msgs_per_subject; set it directly because KeyValueConfig.History is a
	// uint8 and would wrap a value a bucket should never have, hiding the difference.
	f["history"] = json.Number(strconv.FormatInt(sc.MaxMsgsPerSubject, 10))
	return f, nil
}
