package gateway

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"connectrpc.com/connect"
	"connectrpc.com/grpchealth"
	"connectrpc.com/grpcreflect"
	"connectrpc.com/otelconnect"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetflow-dev/jetflow/internal/telemetry/tracecontext"
	"github.com/jetflow-dev/jetflow/internal/worker"
	"github.com/jetflow-dev/jetflow/proto/jetflow/v1/jetflowv1connect"
	"github.com/jetflow-dev/jetflow/streams"
)

// Services are the full names of the services the gateway serves, as health and reflection
// list them.
var Services = []string{
	jetflowv1connect.ChatServiceName,
	jetflowv1connect.SpeechServiceName,
	jetflowv1connect.VoiceServiceName,
	jetflowv1connect.PipelineServiceName,
	jetflowv1connect.AdminServiceName,
}

// Server serves the Connect services. Build it with New, serve it with Run (or mount Handler
// in a server of your own and call Close when done).
type Server struct {
	cfg         Config
	results     *worker.Lazy[jetstream.Stream]
	sttSessions *worker.Lazy[jetstream.KeyValue]
	deadLetters *deadLetterWatch
	handler     http.Handler
}

// New builds a server on cfg's connection. It subscribes to dead letters at once (Close or
// Run's return removes the subscription).
func New(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.withDefaults()
	s := &Server{cfg: cfg, results: worker.LazyStream(cfg.JS, streams.StreamResults), sttSessions: worker.LazyBucket(cfg.JS, streams.BucketSTTSessions)}
	otel, err := otelconnect.NewInterceptor(s.otelOptions()...)
	if err != nil {
		return nil, fmt.Errorf("building the OpenTelemetry interceptor: %w", err)
	}
	interceptors := append([]connect.Interceptor{otel}, cfg.Interceptors...)
	interceptors = append(interceptors, validation{})
	opts := []connect.HandlerOption{
		connect.WithInterceptors(interceptors...),
		// Connect's own limit, which answers resource_exhausted, bounds what is read into
		// memory; requests that fit it but not one NATS message get invalid_argument with
		// the too_large detail (publishRequest).
		connect.WithReadMaxBytes(maxReadBytes(cfg.NC.MaxPayload())),
	}
	mux := http.NewServeMux()
	mux.Handle(jetflowv1connect.NewChatServiceHandler(chatService{s}, opts...))
	mux.Handle(jetflowv1connect.NewSpeechServiceHandler(speechService{s}, opts...))
	mux.Handle(jetflowv1connect.NewVoiceServiceHandler(voiceService{s}, opts...))
	mux.Handle(jetflowv1connect.NewPipelineServiceHandler(pipelineService{s}, opts...))
	mux.Handle(jetflowv1connect.NewAdminServiceHandler(adminService{s}, opts...))
	// Health answers without the interceptors: probes need no key. Reflection describes the
	// API to whoever may call it, so it goes through the caller's interceptors (authentication).
	mux.Handle(grpchealth.NewHandler(healthChecker{s}))
	reflector := grpcreflect.NewStaticReflector(Services...)
	reflectOpts := connect.WithInterceptors(cfg.Interceptors...)
	mux.Handle(grpcreflect.NewHandlerV1(reflector, reflectOpts))
	mux.Handle(grpcreflect.NewHandlerV1Alpha(reflector, reflectOpts))
	if cfg.Page != nil {
		mux.Handle("/", cfg.Page)
	}
	var h http.Handler = mux
	for i := len(cfg.Middleware) - 1; i >= 0; i-- {
		h = cfg.Middleware[i](h)
	}
	s.handler = h

	s.deadLetters, err = startDeadLetterWatch(cfg.NC)
	if err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Server) otelOptions() []otelconnect.Option {
	opts := []otelconnect.Option{
		otelconnect.WithPropagator(tracecontext.Propagator()),
		// The caller's trace is continued: the stages' spans then sit under the caller's.
		otelconnect.WithTrustRemote(),
		otelconnect.WithoutServerPeerAttributes(),
	}
	if s.cfg.Tracer != nil {
		opts = append(opts, otelconnect.WithTracerProvider(s.cfg.Tracer))
	}
	if s.cfg.Meter != nil {
		opts = append(opts, otelconnect.WithMeterProvider(s.cfg.Meter))
	}
	return opts
}

// maxReadBytes bounds a request body: a few messages' worth, so that a too-large request is
// still read and refused with a field named, without reading unbounded bodies.
func maxReadBytes(maxPayload int64) int {
	if maxPayload <= 0 {
		maxPayload = 1 << 20
	}
	return int(4 * maxPayload)
}

// Handler serves every service, gRPC health and reflection, and the page at /. It speaks
// Connect, gRPC and gRPC-Web; gRPC needs HTTP/2, which Run serves with or without TLS.
func (s *Server) Handler() http.Handler { return s.handler }

// Close removes the server's dead-letter subscription. Run calls it before returning.
func (s *Server) Close() error { return s.deadLetters.stop() }

// Run serves on ln until ctx ends, then stops accepting and lets the calls in flight finish
// within the grace period; calls still running after it are canceled (their requests, already
// stored, complete in the workers and their results stay in AI_RESULTS). With Config.TLS nil it
// serves HTTP/1.1 and HTTP/2 without TLS (h2c, for gRPC); otherwise TLS, HTTP/2 by ALPN.
func (s *Server) Run(ctx context.Context, ln net.Listener) error {
	tlsConfig := s.cfg.TLS
	defer func() {
		if err := s.Close(); err != nil {
			s.cfg.Log.Warn("closing the gateway", "error", err)
		}
	}()
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	protocols.SetHTTP2(true)
	srv := &http.Server{
		Handler:           s.handler,
		Protocols:         &protocols,
		ReadHeaderTimeout: 10 * time.Second,
		// No read or write timeout: streams last as long as their calls. Idle keep-alive
		// connections are closed, so clients that went quiet hold no socket.
		IdleTimeout: 2 * time.Minute,
		TLSConfig:   tlsConfig,
	}
	if tlsConfig == nil {
		protocols.SetUnencryptedHTTP2(true)
	}
	served := make(chan error, 1)
	go func() {
		var err error
		if tlsConfig != nil {
			err = srv.ServeTLS(ln, "", "")
		} else {
			err = srv.Serve(ln)
		}
		served <- err
	}()
	s.cfg.Log.Info("gateway listening", "addr", ln.Addr().String(), "tls", tlsConfig != nil)
	select {
	case err := <-served:
		return fmt.Errorf("serving the gateway: %w", err)
	case <-ctx.Done():
	}
	s.cfg.Log.Info("gateway stopping", "grace_period", s.cfg.GracePeriod)
	graceCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.GracePeriod)
	defer cancel()
	err := srv.Shutdown(graceCtx)
	if err != nil {
		// Calls still running past the grace period are cut; their requests complete anyway.
		err = errors.Join(fmt.Errorf("calls still running after the grace period of %v were canceled: %w", s.cfg.GracePeriod, err), srv.Close())
	}
	if serveErr := <-served; !errors.Is(serveErr, http.ErrServerClosed) {
		err = errors.Join(err, serveErr)
	}
	return err
}

// healthChecker reports every service serving while the NATS connection is up: without it no
// call can be published or answered.
type healthChecker struct{ s *Server }

func (h healthChecker) Check(_ context.Context, req *grpchealth.CheckRequest) (*grpchealth.CheckResponse, error) {
	known := req.Service == ""
	for _, name := range Services {
		known = known || name == req.Service
	}
	if !known {
		return nil, connect.NewError(connect.CodeNotFound, fmt.Errorf("unknown service %q", req.Service))
	}
	if !h.s.cfg.NC.IsConnected() {
		return &grpchealth.CheckResponse{Status: grpchealth.StatusNotServing}, nil
	}
	return &grpchealth.CheckResponse{Status: grpchealth.StatusServing}, nil
}
