package bench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetflow-dev/jetflow/internal/devkit/natsserver"
	"github.com/jetflow-dev/jetflow/internal/telemetry"
)

// Harness is what a scenario runs on: the run's one embedded JetStream server (file storage in a
// temporary directory) and fresh streams for every measurement, so no run inherits another's
// stored messages, deleted-message bookkeeping or duplicate window.
type Harness struct {
	cfg    Config
	server *natsserver.Server // the embedded server, nil when the run uses another
	// external is the nats-server process the run started, nil when it did not.
	external  *externalServer
	url       string
	tempDir   string // the store directory when the harness made it
	telemetry *telemetry.Providers
	log       *slog.Logger
	runs      atomic.Int64

	// The chat-handler binary, found or built once for the run (chatproc.go); workerDir is
	// the temporary directory of a built one.
	workerOnce sync.Once
	workerBin  string
	workerDir  string
	workerErr  error
	// The production streams and consumers of the chat scenarios, applied once for the run.
	chatStreamsOnce sync.Once
	chatStreamsErr  error
	// chatRSS and chatAnon are the highest VmHWM and RssAnon of a chat-handler process in
	// scenario 3, for scenario 5.
	chatRSS, chatAnon atomic.Int64
}

func newHarness(ctx context.Context, cfg Config) (*Harness, error) {
	h := &Harness{cfg: cfg, log: cfg.Logger}
	dir := cfg.StoreDir
	if dir == "" {
		// A directory of our own name: on a shared machine a sweep of leftover jetflow-js-*
		// directories (the embedded package's default) once removed a store mid-run.
		var err error
		if dir, err = os.MkdirTemp("", "jetflow-bench-*"); err != nil {
			return nil, fmt.Errorf("creating the store directory: %w", err)
		}
		h.tempDir = dir
	}
	if err := h.startServer(ctx, dir); err != nil {
		h.removeTemp()
		return nil, err
	}
	if err := anchorStoreDir(ctx, h.url); err != nil {
		h.stopServer()
		h.removeTemp()
		return nil, err
	}
	// The providers a worker gets when no OTEL_* variable is set: metrics kept for /metrics,
	// spans not recorded. The jetflow side is measured as it is deployed.
	tel, err := telemetry.Setup(ctx, "jetflow-bench", func(string) (string, bool) { return "", false })
	if err != nil {
		h.stopServer()
		h.removeTemp()
		return nil, fmt.Errorf("setting up telemetry: %w", err)
	}
	h.telemetry = tel
	return h, nil
}

// anchorStoreDir creates a stream that lives as long as the server. Deleting an account's last
// stream makes nats-server 2.15.2 remove the account's streams directory in a goroutine
// (stream.go, "Do cleanup in separate go routine"), racing with the next stream's creation,
// which then fails with "could not create storage directory". The benchmark deletes and creates
// streams between rounds, so the directory is kept from ever becoming empty.
func anchorStoreDir(ctx context.Context, url string) error {
	nc, err := nats.Connect(url, nats.Name("jetflow-bench-anchor"))
	if err != nil {
		return fmt.Errorf("connecting to create the anchor stream: %w", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("creating JetStream context: %w", err)
	}
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "BENCH_ANCHOR", Subjects: []string{"bench.anchor"}}); err != nil {
		return fmt.Errorf("creating the anchor stream: %w", err)
	}
	return nil
}

func (h *Harness) close(ctx context.Context) {
	if err := h.telemetry.Shutdown(ctx); err != nil {
		h.log.Warn("shutting down telemetry", "error", err)
	}
	h.stopServer()
	h.removeTemp()
	if h.workerDir != "" {
		if err := os.RemoveAll(h.workerDir); err != nil {
			h.log.Warn("removing the built worker", "dir", h.workerDir, "error", err)
		}
	}
}

func (h *Harness) removeTemp() {
	if h.tempDir != "" {
		if err := os.RemoveAll(h.tempDir); err != nil {
			h.log.Warn("removing the store directory", "dir", h.tempDir, "error", err)
		}
	}
}

// Config is the run's configuration, with defaults filled in.
func (h *Harness) Config() Config { return h.cfg }

// URL is the client URL of the server, for worker processes.
func (h *Harness) URL() string { return h.url }

// startServer starts the run's server (Config.Server) unless Config.URL names one.
func (h *Harness) startServer(ctx context.Context, storeDir string) error {
	switch {
	case h.cfg.URL != "":
		h.url = h.cfg.URL
	case h.cfg.Server == ServerExternal:
		ext, err := startExternalServer(ctx, h.cfg, storeDir)
		if err != nil {
			return err
		}
		h.external, h.url = ext, ext.url
	default:
		srv, err := natsserver.Start(natsserver.Options{StoreDir: storeDir})
		if err != nil {
			return fmt.Errorf("starting the embedded JetStream server: %w", err)
		}
		h.server, h.url = srv, srv.ClientURL()
	}
	return nil
}

func (h *Harness) stopServer() {
	if h.server != nil {
		h.server.Shutdown()
	}
	if h.external != nil {
		h.external.stop()
	}
}

// cpuTime is the CPU time used so far by this process and by the nats-server process the run
// started, if any: CPU per message counts the server's work whether it runs inside or outside.
func (h *Harness) cpuTime() time.Duration {
	t := cpuTime()
	if h.external != nil {
		t += h.external.cpu()
	}
	return t
}

// storage says where the run's server is and how it stores streams, for the settings.
func (h *Harness) storage() string {
	switch {
	case h.server != nil:
		return "file (embedded server, same process)"
	case h.external != nil:
		return "file (nats-server process started for the run, TCP on loopback)"
	default:
		return "external server at " + h.url
	}
}

// Connect opens a new connection to the server. Each side of a measurement gets its own, so one
// side's buffers and subscriptions never serve the other.
func (h *Harness) Connect(name string) (*nats.Conn, jetstream.JetStream, error) {
	nc, err := nats.Connect(h.URL(), nats.Name(name))
	if err != nil {
		return nil, nil, fmt.Errorf("connecting %s: %w", name, err)
	}
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncTimeout(30*time.Second))
	if err != nil {
		nc.Close()
		return nil, nil, fmt.Errorf("creating JetStream context for %s: %w", name, err)
	}
	return nc, js, nil
}

// Streams is one measurement's set of streams, deleted by Delete.
type Streams struct {
	// Prefix starts every subject of the set: "bench.r<N>".
	Prefix string
	names  []string
}

// NewStreams creates fresh streams for one measurement: for each stage name a work-queue stream
// <prefix>.<stage>.> with a durable pull consumer named after the stage, and a limits stream
// <prefix>.<sink>.> that receives the last stage's outputs, all on file storage.
func (h *Harness) NewStreams(ctx context.Context, js jetstream.JetStream, stages []string, sink string) (*Streams, error) {
	id := "r" + strconv.FormatInt(h.runs.Add(1), 10)
	s := &Streams{Prefix: "bench." + id}
	for _, st := range stages {
		name := s.Stream(st)
		if _, err := js.CreateStream(ctx, jetstream.StreamConfig{
			Name:      name,
			Subjects:  []string{s.Subject(st) + ".>"},
			Retention: jetstream.WorkQueuePolicy,
			Storage:   jetstream.FileStorage,
		}); err != nil {
			return nil, errors.Join(fmt.Errorf("creating stream %s: %w", name, err), s.Delete(ctx, js))
		}
		s.names = append(s.names, name)
		if _, err := js.CreateConsumer(ctx, name, jetstream.ConsumerConfig{
			Durable:       st,
			AckPolicy:     jetstream.AckExplicitPolicy,
			AckWait:       30 * time.Second,
			MaxDeliver:    5,
			MaxAckPending: 1000,
		}); err != nil {
			return nil, errors.Join(fmt.Errorf("creating consumer %s on %s: %w", st, name, err), s.Delete(ctx, js))
		}
	}
	name := s.Stream(sink)
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{
		Name:     name,
		Subjects: []string{s.Subject(sink) + ".>"},
		Storage:  jetstream.FileStorage,
	}); err != nil {
		return nil, errors.Join(fmt.Errorf("creating stream %s: %w", name, err), s.Delete(ctx, js))
	}
	s.names = append(s.names, name)
	return s, nil
}

// Subject is the subject prefix of a stage's (or the sink's) stream: <prefix>.<name>.
func (s *Streams) Subject(name string) string { return s.Prefix + "." + name }

// Stream is the name of a stage's (or the sink's) stream.
func (s *Streams) Stream(name string) string {
	return "BENCH_" + s.Prefix[len("bench."):] + "_" + name
}

// hop is the set's stage name, forwarding its outputs to the subjects of to (a later stage or
// the sink).
func (s *Streams) hop(name, to string) hop {
	return hop{Name: name, Stream: s.Stream(name), From: s.Subject(name), To: s.Subject(to)}
}

// Delete removes the streams.
func (s *Streams) Delete(ctx context.Context, js jetstream.JetStream) error {
	var errs []error
	for _, n := range s.names {
		if err := js.DeleteStream(ctx, n); err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
			errs = append(errs, fmt.Errorf("deleting stream %s: %w", n, err))
		}
	}
	return errors.Join(errs...)
}

// count is the number of messages a stream holds now.
func count(ctx context.Context, js jetstream.JetStream, stream string) (uint64, error) {
	st, err := js.Stream(ctx, stream)
	if err != nil {
		return 0, fmt.Errorf("looking up stream %s: %w", stream, err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("reading stream %s: %w", stream, err)
	}
	return info.State.Msgs, nil
}

// settle collects garbage left by the previous run before the next is timed, so neither side
// pays for the other's allocations.
func settle() { runtime.GC() }
