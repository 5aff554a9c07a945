// Package deadletters reads, and safely replays, the dead letters in AI_DLQ: what `jetflow dlq`
// and the gateway's AdminService share. The command line (flags, tables, progress) stays in
// cmd/jetflow/internal/dlq.
//
// A dead letter is the failed message as it was stored (payload and headers) plus the runtime's
// Jetflow-* dead-letter headers (internal/stage/deadletter.go). Replaying one is not the same as
// publishing it back: the copy must keep what says how to read the payload (Content-Type,
// Jetflow-Type) and drop what the runtime counts attempts and identities with
// (Jetflow-Attempts, Jetflow-Requeued-From), or it starts with its retries spent and the old
// identity its outputs derive from. ReplayMessage builds that copy; the dead letter itself is
// kept.
//
// A replay must also happen once. Each is recorded in the KV bucket dlq-replays (key: the
// letter's AI_DLQ sequence), and its Nats-Msg-Id is a function of the letter and of the replay
// generation (replay:AI_DLQ:<seq>:<generation>), so the two ways a replay can be interrupted are
// both safe: an intent record is written before the publish and the result after its ack, and
// a rerun that finds an intent without a result publishes the same id again, which the server
// drops if the first publish had landed (within the target stream's duplicate window).
package deadletters
