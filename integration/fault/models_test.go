package fault

import (
	"log/slog"
	"net/http/httptest"
	"testing"

	"github.com/jetflow-dev/jetflow/internal/devkit/standin"
)

// Models is the stand-in model server, in the test process on httptest, with its fault
// injection (Config.Delay, outages, error rate) and its call counts.
type Models struct {
	*standin.Server
	URL string
}

// StartModels starts the stand-in models with cfg, closed at the end of the test.
func StartModels(t *testing.T, cfg standin.Config) *Models {
	t.Helper()
	s, err := standin.New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("starting the stand-in models: %v", err)
	}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return &Models{Server: s, URL: srv.URL}
}

// Calls is the number of model requests on route pattern (such as
// "POST /v1/chat/completions"), or on every route when pattern is "".
func (m *Models) Calls(pattern string) int64 {
	var n int64
	for route, c := range m.Stats().Calls {
		if pattern == "" || route == pattern {
			n += c
		}
	}
	return n
}

// RouteChat is the LLM's route on the stand-in.
const RouteChat = "POST /v1/chat/completions"
