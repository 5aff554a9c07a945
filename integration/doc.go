// Package integration holds tests across components and processes against a real JetStream
// server: the operator recipes of the README, the binaries as processes, and (later) fault
// injection. The tests live in _test.go files; this file only names the package.
package integration
