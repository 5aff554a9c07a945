// Package envconfig reads configuration from environment variables. Every reader records the
// first problem per variable, so a service can report all bad variables at once, each by name.
package envconfig

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// Lookup finds a variable; os.LookupEnv is the usual one, a map lookup in tests.
type Lookup func(name string) (string, bool)

// Reader reads typed variables and collects errors.
type Reader struct {
	lookup Lookup
	errs   []error
}

// New returns a Reader over lookup; nil means os.LookupEnv.
func New(lookup Lookup) *Reader {
	if lookup == nil {
		lookup = os.LookupEnv
	}
	return &Reader{lookup: lookup}
}

// Map returns a Lookup over a fixed map, for tests.
func Map(m map[string]string) Lookup {
	return func(name string) (string, bool) {
		v, ok := m[name]
		return v, ok
	}
}

// Err returns every problem found so far, joined, or nil.
func (r *Reader) Err() error { return errors.Join(r.errs...) }

// Fail records a problem with a variable that the caller checked itself.
func (r *Reader) Fail(name, format string, args ...any) {
	r.errs = append(r.errs, fmt.Errorf("%s: %s", name, fmt.Sprintf(format, args...)))
}

func (r *Reader) raw(name string) (string, bool) {
	v, ok := r.lookup(name)
	if !ok {
		return "", false
	}
	v = strings.TrimSpace(v)
	return v, v != ""
}

// String returns the variable, or def when it is unset or empty.
func (r *Reader) String(name, def string) string {
	if v, ok := r.raw(name); ok {
		return v
	}
	return def
}

// Required returns the variable and records an error when it is unset or empty.
func (r *Reader) Required(name string) string {
	v, ok := r.raw(name)
	if !ok {
		r.Fail(name, "is required")
	}
	return v
}

// Int returns the variable as an int within [lo, hi], or def when unset.
func (r *Reader) Int(name string, def, lo, hi int) int {
	v, ok := r.raw(name)
	if !ok {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		r.Fail(name, "%q is not a whole number", v)
		return def
	}
	if n < lo || n > hi {
		r.Fail(name, "%d is outside [%d, %d]", n, lo, hi)
		return def
	}
	return n
}

// Float returns the variable as a float64 within [lo, hi], or def when unset.
func (r *Reader) Float(name string, def, lo, hi float64) float64 {
	v, ok := r.raw(name)
	if !ok {
		return def
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		r.Fail(name, "%q is not a number", v)
		return def
	}
	if f < lo || f > hi {
		r.Fail(name, "%g is outside [%g, %g]", f, lo, hi)
		return def
	}
	return f
}

// Bool returns the variable as a bool (strconv.ParseBool forms), or def when unset.
func (r *Reader) Bool(name string, def bool) bool {
	v, ok := r.raw(name)
	if !ok {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		r.Fail(name, "%q is not true or false", v)
		return def
	}
	return b
}

// Duration returns the variable as a Go duration ("1.5s", "2m") within [lo, hi], or def when unset.
func (r *Reader) Duration(name string, def, lo, hi time.Duration) time.Duration {
	v, ok := r.raw(name)
	if !ok {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		r.Fail(name, "%q is not a duration such as 1.5s or 2m", v)
		return def
	}
	if d < lo || d > hi {
		r.Fail(name, "%v is outside [%v, %v]", d, lo, hi)
		return def
	}
	return d
}

// Durations returns a comma-separated list of durations, each within [lo, hi], or def when unset.
func (r *Reader) Durations(name string, def []time.Duration, lo, hi time.Duration) []time.Duration {
	v, ok := r.raw(name)
	if !ok {
		return def
	}
	var out []time.Duration
	for part := range strings.SplitSeq(v, ",") {
		d, err := time.ParseDuration(strings.TrimSpace(part))
		if err != nil || d < lo || d > hi {
			r.Fail(name, "%q must be a comma-separated list of durations within [%v, %v]", v, lo, hi)
			return def
		}
		out = append(out, d)
	}
	return out
}

// URL returns the variable as an absolute http(s) or nats(s) URL, or def when unset. The value
// is never echoed in errors, since URLs may carry credentials.
func (r *Reader) URL(name, def string) string {
	v, ok := r.raw(name)
	if !ok {
		return def
	}
	u, err := url.Parse(v)
	if err != nil || u.Scheme == "" || u.Host == "" {
		r.Fail(name, "is not an absolute URL with a scheme and a host")
		return def
	}
	return strings.TrimRight(v, "/")
}

// File returns the variable as a path to a readable file, or def when unset.
func (r *Reader) File(name, def string) string {
	v, ok := r.raw(name)
	if !ok {
		return def
	}
	if _, err := os.Stat(v); err != nil {
		r.Fail(name, "file %q cannot be read: %v", v, err)
		return def
	}
	return v
}
