package telemetry

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Providers are a process's telemetry: where spans and metrics go, and the /metrics handler.
type Providers struct {
	Tracer trace.TracerProvider
	Meter  metric.MeterProvider
	// Metrics serves the process's metrics in the Prometheus text format.
	Metrics  http.Handler
	shutdown []func(context.Context) error
}

// Setup builds the providers of one service. Metrics are always kept for /metrics. Spans and
// metrics are also exported over OTLP/HTTP when the standard variables ask for it
// (OTEL_EXPORTER_OTLP_ENDPOINT, or the _TRACES_/_METRICS_ variants); the exporters read the
// rest of the OTEL_* variables themselves. OTEL_SDK_DISABLED=true turns tracing off.
//
// Setup also makes the W3C trace-context and baggage propagator the global one, for
// instrumentation that reads it there; jetflow's own (NATS headers, the model clients, Milvus,
// Kubernetes) uses it without looking.
func Setup(ctx context.Context, service string, lookup func(string) (string, bool), opts ...Option) (*Providers, error) {
	if lookup == nil {
		lookup = os.LookupEnv
	}
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	otel.SetTextMapPropagator(propagator)
	has := func(name string) bool { v, ok := lookup(name); return ok && strings.TrimSpace(v) != "" }
	res := resource.NewSchemaless(semconv.ServiceName(service))
	p := &Providers{}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	promExporter, err := otelprom.New(otelprom.WithRegisterer(reg), otelprom.WithoutScopeInfo())
	if err != nil {
		return nil, fmt.Errorf("creating Prometheus exporter: %w", err)
	}
	readers := []sdkmetric.Option{sdkmetric.WithResource(res), sdkmetric.WithReader(promExporter)}
	if has("OTEL_EXPORTER_OTLP_ENDPOINT") || has("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT") {
		exp, err := otlpmetrichttp.New(ctx)
		if err != nil {
			return nil, fmt.Errorf("creating OTLP metric exporter: %w", err)
		}
		readers = append(readers, sdkmetric.WithReader(sdkmetric.NewPeriodicReader(exp)))
	}
	mp := sdkmetric.NewMeterProvider(readers...)
	p.Meter = mp
	p.shutdown = append(p.shutdown, mp.Shutdown)
	p.Metrics = promhttp.HandlerFor(reg, promhttp.HandlerOpts{})

	disabled := false
	if v, ok := lookup("OTEL_SDK_DISABLED"); ok && strings.EqualFold(strings.TrimSpace(v), "true") {
		disabled = true
	}
	switch {
	case o.tracer != nil:
		p.Tracer = o.tracer
	case disabled:
		p.Tracer = noop.NewTracerProvider()
	case has("OTEL_EXPORTER_OTLP_ENDPOINT") || has("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
		exp, err := otlptracehttp.New(ctx)
		if err != nil {
			return nil, fmt.Errorf("creating OTLP trace exporter: %w", err)
		}
		tp := sdktrace.NewTracerProvider(sdktrace.WithResource(res), sdktrace.WithBatcher(exp))
		p.Tracer = tp
		p.shutdown = append(p.shutdown, tp.Shutdown)
	default:
		// No exporter: spans are not recorded, but trace context still flows between stages.
		p.Tracer = noop.NewTracerProvider()
	}
	return p, nil
}

// Shutdown flushes and stops the exporters, within ctx.
func (p *Providers) Shutdown(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var errs []error
	for _, f := range p.shutdown {
		if err := f(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
