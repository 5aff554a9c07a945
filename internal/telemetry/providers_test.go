package telemetry

import (
	"context"
	"slices"
	"testing"

	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/jetflow-dev/jetflow/internal/envconfig"
)

// Setup makes the W3C propagator the global one, for instrumentation that reads it there.
func TestSetupSetsTheGlobalPropagator(t *testing.T) {
	p, err := Setup(t.Context(), "test", envconfig.Map(nil))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Shutdown(context.Background()) })
	for _, f := range []string{"traceparent", "tracestate", "baggage"} {
		if !slices.Contains(otel.GetTextMapPropagator().Fields(), f) {
			t.Errorf("global propagator fields %v lack %s", otel.GetTextMapPropagator().Fields(), f)
		}
	}
}

// WithTracerProvider wins over the environment, so a test records a worker's spans.
func TestSetupWithTracerProvider(t *testing.T) {
	tp := sdktrace.NewTracerProvider()
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	p, err := Setup(t.Context(), "test", envconfig.Map(map[string]string{"OTEL_SDK_DISABLED": "true"}), WithTracerProvider(tp))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Shutdown(context.Background()) })
	if p.Tracer != tp {
		t.Fatalf("Tracer = %T, want the given provider", p.Tracer)
	}
}
