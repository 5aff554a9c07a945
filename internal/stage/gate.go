package stage

import "time"

// The gate (a circuit breaker in the workers) is consulted before every pull request.

func (s *Stage) probing() bool {
	p, ok := s.gate.(prober)
	return ok && p.Probing()
}

// gateOpenFor is how long the gate stays open: 0 when there is no gate or it is closed.
func (s *Stage) gateOpenFor() time.Duration {
	if s.gate == nil {
		return 0
	}
	return s.gate.OpenFor()
}
