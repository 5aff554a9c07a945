// Package worker is the process shell shared by every jetflow binary: logging, configuration,
// telemetry, the NATS connection, the health server, the stages, and an orderly shutdown on
// SIGTERM (stop pulling, finish or nak in-flight work, drain the connection, flush telemetry).
//
// A worker is a Build function. It reads its own settings from Env.Config, makes its model
// clients, and returns its stages from Env.Stages: the shell names each stage after its
// consumer, finds the consumer's stream in streams/, gives it the process's logger, tracer and
// meter, and gates it with the breakers Env.Breakers made. Everything a worker has in common
// with the others (required settings, breakers, lazily opened buckets) is written here once.
//
// Every worker process also runs a StatusPublisher: it keeps the replica's entry (Status: its
// stages, their gates and breaker states) in the KV bucket jetflow-status under
// <worker>.<replica>, put at start, on any breaker change and every STATUS_INTERVAL, deleted at
// shutdown, and expired by the bucket's TTL when the process dies. `jetflow status` reads it, so
// an operator sees every replica's breakers without scraping the pods.
package worker
