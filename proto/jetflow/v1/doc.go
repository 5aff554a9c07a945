// Package jetflowv1 holds jetflow's wire messages and Connect services: the payloads that move
// between stages through JetStream, and the API of the gateway. The .proto files beside this
// one are the source of truth; the *.pb.go files and jetflowv1connect are generated from them
// (make proto, that is `go tool -modfile=tools/go.mod buf generate` at the repository root)
// and committed, and a test fails when they are stale.
//
// Every inbound message starts with request_id, session_id, deadline and user_id, which the
// stage runtime reads through the generated getters, and has a Validate method that checks
// every field against the limits in validate.go before a handler sees it.
package jetflowv1
