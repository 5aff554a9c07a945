// Package gateway holds the gateway's end-to-end tests: the real workers (platform.All) on
// stand-in models and an embedded JetStream, the gateway in front of them, and clients of
// every protocol it serves (Connect, gRPC through google.golang.org/grpc, gRPC-Web, plain
// HTTP+JSON).
package gateway
