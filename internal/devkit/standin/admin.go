package standin

import (
	"net/http"
	"time"
)

func (s *Server) getStats(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.Stats())
}

func (s *Server) resetStats(w http.ResponseWriter, _ *http.Request) {
	s.stats.reset()
	w.WriteHeader(http.StatusNoContent)
}

// outageAnswer is the body of POST /admin/outage.
type outageAnswer struct {
	Outage bool      `json:"outage"`
	Until  time.Time `json:"until"`
}

// postOutage starts an outage of ?for=<duration> from now, replacing the configured one;
// ?for=0 ends any outage.
func (s *Server) postOutage(w http.ResponseWriter, r *http.Request) {
	d, err := time.ParseDuration(r.URL.Query().Get("for"))
	if err != nil || d < 0 {
		writeError(w, openAIAPI, invalid("for=%q must be a duration such as 10s, or 0 to end the outage", r.URL.Query().Get("for")))
		return
	}
	now := time.Now()
	until := s.faults.setOutage(now, d)
	s.logger.Info("outage set by /admin/outage", "for", d, "until", until)
	writeJSON(w, http.StatusOK, outageAnswer{Outage: d > 0, Until: until})
}
