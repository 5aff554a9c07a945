package chat

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/jetflow-dev/jetflow/internal/upstream/retrieval/milvusfake"
)

// Every goroutine the worker starts has ended when the tests do; in particular Build registers
// the Milvus connection's Close with the worker shell, whose gRPC goroutines would otherwise
// outlive it.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, milvusfake.GoleakOptions()...)
}
