package auth

import (
	"context"
	"slices"
)

// How a caller proved who it is (Caller.Via).
const (
	ViaAPIKey     = "api_key"
	ViaClientCert = "client_cert"
)

// Caller is who made a request, as the key file names it.
type Caller struct {
	// Name is the key file entry's name: the request's user.
	Name string
	// Admin is whether the caller may call AdminService.
	Admin bool
	// Services are the service names the caller may call, or "*".
	Services []string
	// Via is ViaAPIKey or ViaClientCert.
	Via string
}

type callerKey struct{}

// CallerFrom returns the caller the interceptor admitted; false outside an authenticated call
// (health checks).
func CallerFrom(ctx context.Context) (Caller, bool) {
	c, ok := ctx.Value(callerKey{}).(Caller)
	return c, ok
}

func withCaller(ctx context.Context, c Caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

// mayCall reports whether the caller's list allows service.
func (c Caller) mayCall(service string) bool {
	return slices.Contains(c.Services, "*") || slices.Contains(c.Services, service)
}
