package standin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"
)

// StandInHeader is set to "true" on every response, so no one mistakes the stand-in for a model.
const StandInHeader = "X-Jetflow-Stand-In"

// The model names the stand-in answers with, whatever model a request names.
const (
	ModelLLM    = "jetflow-standin-llm"
	ModelEmbed  = "jetflow-standin-embed"
	ModelRerank = "jetflow-standin-rerank"
	ModelSTT    = "jetflow-standin-stt"
	ModelTTS    = "jetflow-standin-tts"
)

// Server is the stand-in model server: an http.Handler with every route on one mux.
type Server struct {
	cfg    Config
	logger *slog.Logger
	mux    *http.ServeMux
	start  time.Time
	faults *faults
	stats  *stats
	ids    atomic.Uint64
}

// New builds the server; the configured outage is timed from now. A nil logger discards.
func New(cfg Config, logger *slog.Logger) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, logger: logger, mux: http.NewServeMux(), start: time.Now(), stats: newStats()}
	s.faults = newFaults(cfg, s.start)

	p, t := cfg.Prefix, cfg.TEIPrefix
	s.model(openAIAPI, "POST "+route(p, "/chat/completions"), s.chat)
	s.model(openAIAPI, "POST "+route(p, "/embeddings"), s.openAIEmbeddings)
	s.model(openAIAPI, "POST "+route(p, "/rerank"), s.cohereRerank)
	s.model(openAIAPI, "POST "+route(p, "/audio/speech"), s.speech)
	s.model(openAIAPI, "POST "+route(p, "/audio/transcriptions"), s.transcribe)
	s.model(openAIAPI, "GET "+route(p, "/models"), s.models)
	s.model(teiAPI, "POST "+route(t, "/embed"), s.teiEmbed)
	s.model(teiAPI, "POST "+route(t, "/rerank"), s.teiRerank)

	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	s.mux.HandleFunc("GET /admin/stats", s.getStats)
	s.mux.HandleFunc("DELETE /admin/stats", s.resetStats)
	s.mux.HandleFunc("POST /admin/outage", s.postOutage)
	return s, nil
}

// ServeHTTP marks the response as a stand-in's and routes it.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set(StandInHeader, "true")
	s.mux.ServeHTTP(w, r)
}

// Stats returns the call counts that GET /admin/stats serves.
func (s *Server) Stats() Stats {
	st := s.stats.snapshot()
	st.Outage, _ = s.faults.outage(time.Now())
	return st
}

// Serve answers requests on ln until ctx ends, then shuts down gracefully: it stops accepting,
// waits up to ShutdownTimeout for running requests, then cancels those still running (an
// injected delay or a slow stream) and closes their connections. It returns nil after a clean
// shutdown.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	base, cancelRequests := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelRequests()
	hs := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return base },
		ErrorLog:          slog.NewLogLogger(s.logger.Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	select {
	case err := <-served:
		return fmt.Errorf("serving stand-in models: %w", err)
	case <-ctx.Done():
	}
	limit, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ShutdownTimeout)
	defer cancel()
	err := hs.Shutdown(limit)
	if err != nil {
		// Close the connections first, then end the handlers: a handler cancelled first could
		// still write its answer (a cut request that looks answered) before its connection goes.
		_ = hs.Close()
		cancelRequests()
		err = fmt.Errorf("shutting down stand-in models after %v: %w", s.cfg.ShutdownTimeout, err)
	}
	if serr := <-served; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, fmt.Errorf("serving stand-in models: %w", serr))
	}
	return err
}

// modelHandler answers one model route; a returned error is written in the route's dialect.
type modelHandler func(w http.ResponseWriter, r *http.Request) *statusError

// model mounts a model route behind the call counter, the outage, the delay and the error rate,
// in that order: an outage answers at once, like a server that is down; an injected error comes
// after the delay, like an overloaded one.
func (s *Server) model(a api, pattern string, h modelHandler) {
	rs := s.stats.register(pattern)
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		rs.calls.Add(1)
		s.stats.traces.record(pattern, r)
		s.stats.inFlight.Add(1)
		defer s.stats.inFlight.Add(-1)
		if down, left := s.faults.outage(time.Now()); down {
			rs.injected.Add(1)
			w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(left.Seconds()))))
			writeError(w, a, &statusError{status: http.StatusServiceUnavailable, msg: "stand-in outage (injected)"})
			return
		}
		// Read the whole request before waiting, as a real server receives it before working on
		// it; net/http notices a client that leaves only once the body has been read.
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxAudioBody))
		if err != nil {
			status := http.StatusBadRequest
			if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
				status = http.StatusRequestEntityTooLarge
			}
			writeError(w, a, &statusError{status: status, msg: fmt.Sprintf("reading the request body: %v", err)})
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		delay, fail := s.faults.draw()
		if !sleep(r.Context(), delay) {
			return // the client left; nothing to answer
		}
		if fail {
			rs.injected.Add(1)
			s.logger.Debug("injecting an error", "route", pattern)
			writeError(w, a, &statusError{status: http.StatusServiceUnavailable, msg: "stand-in error (injected at the configured error rate)"})
			return
		}
		if err := h(w, r); err != nil {
			writeError(w, a, err)
		}
	})
}

func (s *Server) nextID(prefix string) string {
	return prefix + "-standin-" + strconv.FormatUint(s.ids.Add(1), 10)
}

type modelList struct {
	Object string      `json:"object"`
	Data   []modelCard `json:"data"`
}

type modelCard struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	OwnedBy string `json:"owned_by"`
}

func (s *Server) models(w http.ResponseWriter, _ *http.Request) *statusError {
	list := modelList{Object: "list"}
	for _, id := range []string{ModelLLM, ModelEmbed, ModelRerank, ModelSTT, ModelTTS} {
		list.Data = append(list.Data, modelCard{ID: id, Object: "model", Created: s.start.Unix(), OwnedBy: "jetflow-standin"})
	}
	writeJSON(w, http.StatusOK, list)
	return nil
}
