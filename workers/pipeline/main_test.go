package pipeline

import (
	"testing"

	"go.uber.org/goleak"
)

// Every goroutine the bridge, its stage and its clients start has ended when the tests do.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
