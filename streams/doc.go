// Package streams holds jetflow's JetStream streams, consumers and KV buckets as data: JSON
// files in the NATS server API's own shape, embedded into the binary. The same files are read
// by `nats stream add --config` and `nats consumer add --config`, by Apply and Diff here, and
// by the deploy manifests, so names and settings cannot drift between code and cluster.
//
// Subject, stream, consumer and bucket names are constants in this package; a test keeps them
// in step with the files. Workers import the constants, never spell a subject themselves.
//
// Layout of the files (relative to this directory):
//
//	stream/<STREAM>.json              jetstream.StreamConfig
//	consumer/<STREAM>/<consumer>.json jetstream.ConsumerConfig (durable pull consumers only)
//	kv/<bucket>.json                  jetstream.KeyValueConfig (applied by Go: `nats kv add` has no --config)
package streams
