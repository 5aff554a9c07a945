// Package session keeps per-session state (an STT chunk sequence, a voice conversation) in a
// JetStream KV bucket, and is the only way workers touch that state. Several replicas may serve
// one session at once, so every change is a read-modify-write with compare-and-swap on the key's
// revision: a replica that lost the race re-reads and re-applies its change, instead of holding
// a lock that a dead replica could keep.
//
// Values are stored as JSON (encoding/json), so an operator can read them with
// `nats kv get <bucket> <key>`. Use plain JSON-tagged structs as values; protobuf messages are
// not supported (they must not be copied by value and need protojson for oneofs).
//
// Expiry is the bucket's TTL (max age), never a per-key TTL: nats.go's KV Update drops a
// per-key TTL, so the key would live forever after its first update (nats.go #1994). With a
// bucket TTL every write starts the clock again, so a session expires TTL after its last change.
package session
