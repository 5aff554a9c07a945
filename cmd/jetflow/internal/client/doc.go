// Package client is the jetflow CLI as a client of the gateway: `jetflow chat`, `jetflow say`,
// `jetflow transcribe` and `jetflow pipeline start`. Each command calls the gateway's Connect
// services with the generated clients (proto/jetflow/v1/jetflowv1connect), at --gateway or
// JETFLOW_GATEWAY (default DefaultGateway, where `jetflow dev` serves it), with the API key in
// JETFLOW_API_KEY. Unlike the operator commands, none of them needs NATS credentials.
package client
