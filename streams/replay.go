package streams

// BucketDLQReplays records every replay of a dead letter by `jetflow dlq replay`: the key is the
// letter's AI_DLQ sequence, the value says which generation was published, when, and under which
// Nats-Msg-Id. Its ttl equals AI_DLQ's max_age, so a record lives at least as long as its letter
// (a record is written after its letter) and a letter is never replayed twice by accident.
const BucketDLQReplays = "dlq-replays"
