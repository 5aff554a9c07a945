// Package gateway is the front door of jetflow: a Connect server (Connect, gRPC, gRPC-Web and
// plain HTTP+JSON on one port) for the services of proto/jetflow/v1, so that applications need
// neither NATS credentials nor the subject and result conventions.
//
// # One call
//
// Each call is validated (an invalid request is refused with invalid_argument naming the
// field), published into JetStream on the subject the workers consume, with a Nats-Msg-Id
// derived from the request id ("gateway:<kind>:<request_id>"), and answered from the durable
// result in AI_RESULTS (ai.result.<kind>.<id>). So a client that retries a request id within
// the stream's duplicate window gets the answer of the first run, not a second run: the stream
// drops the second publish, and the gateway reads the result the first one produced.
//
// The caller's deadline travels with the request (its deadline field, which every stage
// honours), so a worker that picks it up late dead-letters it instead of working for nobody.
//
// # Reading results without leaking
//
// A call reads its result with a subscription of its own on the result subject, used only as a
// wake-up, and direct gets of the stored messages (next by subject, from the last sequence
// read): the durable copy is what is returned, in stream order, and a wake-up lost to a
// reconnect costs a delay, not the result. The subscription is removed when the call returns,
// whether it ended, failed, or the client went away; no JetStream consumer is created per call.
//
// # Failures come back
//
// The gateway keeps one subscription on ai.dlq.>: a request of a waiting call that is
// dead-lettered ends the call at once with the stage and the reason, instead of the call
// waiting until its deadline for a result that will not come.
package gateway
