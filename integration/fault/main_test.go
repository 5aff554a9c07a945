package fault

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/internal/devkit/testbin"
)

// EnvForm selects the suite's form: "full" for make reliability, anything else the short form
// make test runs.
const EnvForm = "JETFLOW_RELIABILITY"

// EnvFigures, when set, is a file every scenario appends its figures to as one JSON line, for
// the README's Reliability table.
const EnvFigures = "JETFLOW_RELIABILITY_FIGURES"

// Full reports whether the suite runs in its full form.
func Full() bool { return os.Getenv(EnvForm) == "full" }

// Scale picks the short form's value or the full form's.
func Scale[T any](short, full T) T {
	if Full() {
		return full
	}
	return short
}

// Suite skips the test under -short (the suite runs processes for minutes) and returns a
// context that ends with the test, bounded by limit.
func Suite(t *testing.T, limit time.Duration) context.Context {
	t.Helper()
	if testing.Short() {
		t.Skip("the reliability suite runs processes; not under -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	t.Cleanup(cancel)
	return ctx
}

func TestMain(m *testing.M) {
	code := m.Run()
	if err := testbin.RemoveBuilt(); err != nil {
		fmt.Fprintf(os.Stderr, "removing the built binaries: %v\n", err)
	}
	os.Exit(code)
}

// Binary returns the path of a worker binary (or standin-models, jetflow): the one make
// binaries built into JETFLOW_WORKER_BIN, else one built once per test binary from cmd/<name>.
func Binary(t *testing.T, name string) string {
	t.Helper()
	return testbin.Path(t, name, "./cmd/"+name)
}

// NATSServerBinary returns nats-server built from the version go.mod pins, once per test binary
// (JETFLOW_WORKER_BIN/nats-server when it is there).
func NATSServerBinary(t *testing.T) string {
	t.Helper()
	return testbin.Path(t, "nats-server", "github.com/nats-io/nats-server/v2")
}
