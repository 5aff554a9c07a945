package bench

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// builtWorker is the chat-handler binary of this test binary's run: the one in
// $JETFLOW_WORKER_BIN (make test sets it after make binaries) or one built once for all tests.
var builtWorker struct {
	once      sync.Once
	path, dir string
	err       error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if builtWorker.dir != "" {
		_ = os.RemoveAll(builtWorker.dir)
	}
	os.Exit(code)
}

func workerBin(t *testing.T) string {
	t.Helper()
	builtWorker.once.Do(func() {
		if dir := os.Getenv("JETFLOW_WORKER_BIN"); dir != "" {
			if p := filepath.Join(dir, "chat-handler"); fileExists(p) {
				builtWorker.path = p
				return
			}
		}
		h := &Harness{cfg: Config{}.withDefaults(), log: slog.New(slog.DiscardHandler)}
		builtWorker.path, builtWorker.err = h.findOrBuildWorker(context.Background())
		builtWorker.dir = h.workerDir
	})
	if builtWorker.err != nil {
		t.Fatal(builtWorker.err)
	}
	return builtWorker.path
}

func fileExists(p string) bool {
	info, err := os.Stat(p)
	return err == nil && !info.IsDir()
}
