package streams

import "time"

// BucketStatus is where every worker process publishes its stages and their breaker states, one
// key per replica (StatusKey), for `jetflow status`: an operator tool reads one bucket instead of
// scraping every pod. A key is put every few seconds and on every breaker change; the bucket's
// TTL (StatusTTL) removes the key of a process that stopped putting without deleting it, so a
// crashed replica drops out on its own. The bucket is in memory: the state is rebuilt within
// one publish interval after a server restart, and writing it to disk every few seconds per
// replica (with sync_interval: always) would cost more than it is worth.
const BucketStatus = "jetflow-status"

// StatusTTL is BucketStatus's ttl in kv/jetflow-status.json: an entry not put again within it
// expires. The publish interval must stay well below it (a third at most), so that one late
// put does not make a live replica vanish.
const StatusTTL = 15 * time.Second

const statusKeyPrefix = "$KV." + BucketStatus + "."

// StatusKey is the key of one replica of a worker in BucketStatus, "<worker>.<replica>". The
// worker's name comes first so that the NATS permissions can give each worker only its own
// keys ($KV.jetflow-status.<worker>.>). Like the subject functions, it does not validate its
// arguments: replica must be one key token (no '.').
func StatusKey(worker, replica string) string { return worker + "." + replica }

// StatusSubject is the subject a worker publishes its key on, for its NATS permissions:
// "$KV.jetflow-status.<worker>.>".
func StatusSubject(worker string) string { return statusKeyPrefix + worker + ".>" }
