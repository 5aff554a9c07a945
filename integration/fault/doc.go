// Package fault is the reliability suite of issue 12: it runs JetStream as separate nats-server
// processes (one, or a 3-node cluster) and the worker binaries as processes, injects real faults
// (kill -9 of a worker, a server stopped and restarted on its store, a cluster's leader killed, a
// model server that is slow or down) while its own producer drives load, and then audits, for
// every request id published, how many results AI_RESULTS holds and how many dead letters AI_DLQ
// holds: exactly one of the two, whatever failed.
//
// The tests and their harness live in _test.go files; this file only names the package. They
// need the worker binaries (make binaries; JETFLOW_WORKER_BIN says where) and build nats-server
// from the version go.mod pins. go test -short skips the suite; JETFLOW_RELIABILITY=full runs
// its full form (make reliability): more requests, longer faults.
package fault
