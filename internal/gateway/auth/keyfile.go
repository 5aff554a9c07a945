package auth

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"regexp"
)

// KeyFile is the content of the key file: every caller the gateway accepts.
type KeyFile struct {
	Callers []Entry `json:"callers"`
}

// Entry is one caller: identified by an API key's hash or by a client certificate, never both.
type Entry struct {
	// Name is recorded as the request's user; unique in the file, [A-Za-z0-9._@-]{1,128}.
	Name string `json:"name"`
	// KeySHA256 is HashKey of the caller's API key: 64 lowercase hex digits. Empty when the
	// caller is identified by ClientCert.
	KeySHA256 string `json:"key_sha256,omitempty"`
	// ClientCert identifies the caller by its verified client certificate; nil for key callers.
	ClientCert *CertMatch `json:"client_cert,omitempty"`
	// Services are the full names of the services the caller may call
	// ("jetflow.v1.ChatService"), or "*" for all. Empty allows nothing.
	Services []string `json:"services"`
	// Admin allows jetflow.v1.AdminService (which must also be in Services, or "*").
	Admin bool `json:"admin,omitempty"`
	// RatePerSecond is the calls per second the caller's token bucket refills; 0 = no limit.
	// A stream counts as one call when it opens.
	RatePerSecond float64 `json:"rate_per_second,omitempty"`
	// Burst is the bucket's size; 0 = max(1, ceil(RatePerSecond)). Ignored without a rate.
	Burst int `json:"burst,omitempty"`
}

// CertMatch names the verified client certificate of a caller by exactly one of its
// subject common name, a URI SAN (a SPIFFE ID) or a DNS SAN.
type CertMatch struct {
	CommonName string `json:"common_name,omitempty"`
	URI        string `json:"uri,omitempty"`
	DNS        string `json:"dns,omitempty"`
}

const maxKeyFileBytes = 1 << 20

var (
	namePattern    = regexp.MustCompile(`^[A-Za-z0-9._@-]{1,128}$`)
	hashPattern    = regexp.MustCompile(`^[0-9a-f]{64}$`)
	servicePattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+$`)
)

// ParseKeyFile decodes and validates a key file. Unknown fields are refused, so a misspelt
// "admin" or "services" is an error rather than a caller with less (or more) than intended.
func ParseKeyFile(data []byte) (*KeyFile, error) {
	if len(data) > maxKeyFileBytes {
		return nil, fmt.Errorf("%w: %d bytes, more than %d", ErrInvalidKeyFile, len(data), maxKeyFileBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	// A file without "callers" is far more likely a wrong Secret key or a truncated edit than
	// a wish to lock everyone out; that takes an explicit "callers": [].
	var raw struct {
		Callers *[]Entry `json:"callers"`
	}
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("%w: decoding JSON: %w", ErrInvalidKeyFile, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: more than one JSON value", ErrInvalidKeyFile)
	}
	if raw.Callers == nil {
		return nil, fmt.Errorf("%w: no \"callers\" list (an empty list, [], is allowed and admits nobody)", ErrInvalidKeyFile)
	}
	kf := KeyFile{Callers: *raw.Callers}
	if err := kf.Validate(); err != nil {
		return nil, err
	}
	return &kf, nil
}

// Validate checks every entry and that names, key hashes and certificate identities are unique.
func (kf *KeyFile) Validate() error {
	names := map[string]bool{}
	hashes := map[string]bool{}
	certs := map[CertMatch]bool{}
	for i, e := range kf.Callers {
		if err := e.validate(); err != nil {
			return fmt.Errorf("%w: callers[%d]: %w", ErrInvalidKeyFile, i, err)
		}
		if names[e.Name] {
			return fmt.Errorf("%w: callers[%d]: name %q appears twice", ErrInvalidKeyFile, i, e.Name)
		}
		names[e.Name] = true
		if e.KeySHA256 != "" {
			if hashes[e.KeySHA256] {
				return fmt.Errorf("%w: callers[%d] (%s): key_sha256 appears twice", ErrInvalidKeyFile, i, e.Name)
			}
			hashes[e.KeySHA256] = true
		}
		if e.ClientCert != nil {
			if certs[*e.ClientCert] {
				return fmt.Errorf("%w: callers[%d] (%s): client_cert appears twice", ErrInvalidKeyFile, i, e.Name)
			}
			certs[*e.ClientCert] = true
		}
	}
	return nil
}

func (e *Entry) validate() error {
	if !namePattern.MatchString(e.Name) {
		return fmt.Errorf("name %q: want [A-Za-z0-9._@-]{1,128}", e.Name)
	}
	switch {
	case e.KeySHA256 != "" && e.ClientCert != nil:
		return fmt.Errorf("%s: key_sha256 and client_cert both set; one caller has one identity", e.Name)
	case e.KeySHA256 == "" && e.ClientCert == nil:
		return fmt.Errorf("%s: neither key_sha256 nor client_cert set", e.Name)
	case e.KeySHA256 != "" && !hashPattern.MatchString(e.KeySHA256):
		return fmt.Errorf("%s: key_sha256: want 64 lowercase hex digits (the SHA-256 of the key, not the key)", e.Name)
	case e.ClientCert != nil:
		if err := e.ClientCert.validate(); err != nil {
			return fmt.Errorf("%s: client_cert: %w", e.Name, err)
		}
	}
	for j, s := range e.Services {
		if s != "*" && !servicePattern.MatchString(s) {
			return fmt.Errorf("%s: services[%d] %q: want a full service name (jetflow.v1.ChatService) or \"*\"", e.Name, j, s)
		}
	}
	if math.IsNaN(e.RatePerSecond) || e.RatePerSecond < 0 || e.RatePerSecond > 1e6 {
		return fmt.Errorf("%s: rate_per_second %v: want 0 (no limit) to 1e6", e.Name, e.RatePerSecond)
	}
	if e.Burst < 0 || e.Burst > 1e6 {
		return fmt.Errorf("%s: burst %d: want 0 to 1e6", e.Name, e.Burst)
	}
	return nil
}

func (c *CertMatch) validate() error {
	set := 0
	for _, v := range []string{c.CommonName, c.URI, c.DNS} {
		if v != "" {
			set++
		}
		if len(v) > 1024 {
			return fmt.Errorf("identity longer than 1024 bytes")
		}
	}
	if set != 1 {
		return fmt.Errorf("want exactly one of common_name, uri, dns; %d set", set)
	}
	return nil
}

// burst is the bucket size the entry's limiter gets.
func (e *Entry) burst() int {
	if e.Burst > 0 {
		return e.Burst
	}
	return max(1, int(math.Ceil(e.RatePerSecond)))
}
