package auth

import (
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/hex"
	"net/url"
	"slices"

	"golang.org/x/time/rate"
)

// member is one admitted caller with its token bucket.
type member struct {
	caller  Caller
	entry   Entry
	limiter *rate.Limiter // nil: no limit
}

type keyMember struct {
	hash [sha256.Size]byte
	*member
}

type certMember struct {
	match CertMatch
	*member
}

// keyring is one loaded key file, immutable once built: a reload builds a new one and swaps it in.
type keyring struct {
	keys  []keyMember
	certs []certMember
}

// newKeyring builds the lookup of kf, reusing prev's token buckets for callers whose name and
// limit are unchanged, so a reload (or an edit of someone else's entry) does not refill them.
func newKeyring(kf *KeyFile, prev *keyring) *keyring {
	old := map[string]*member{}
	if prev != nil {
		for _, k := range prev.keys {
			old[k.entry.Name] = k.member
		}
		for _, c := range prev.certs {
			old[c.entry.Name] = c.member
		}
	}
	ring := &keyring{}
	for _, e := range kf.Callers {
		m := &member{caller: Caller{Name: e.Name, Admin: e.Admin, Services: slices.Clone(e.Services)}, entry: e}
		if e.RatePerSecond > 0 {
			if o := old[e.Name]; o != nil && o.limiter != nil && o.entry.RatePerSecond == e.RatePerSecond && o.entry.burst() == e.burst() {
				m.limiter = o.limiter
			} else {
				m.limiter = rate.NewLimiter(rate.Limit(e.RatePerSecond), e.burst())
			}
		}
		switch {
		case e.KeySHA256 != "":
			m.caller.Via = ViaAPIKey
			var h [sha256.Size]byte
			// Validate checked the hex, so the error cannot happen.
			_, _ = hex.Decode(h[:], []byte(e.KeySHA256))
			ring.keys = append(ring.keys, keyMember{hash: h, member: m})
		case e.ClientCert != nil:
			m.caller.Via = ViaClientCert
			ring.certs = append(ring.certs, certMember{match: *e.ClientCert, member: m})
		}
	}
	return ring
}

// byKey finds the caller whose key hash is the key's. Every entry is compared, in constant
// time, so how long a refusal takes does not depend on which entry came closest.
func (r *keyring) byKey(key string) *member {
	sum := sha256.Sum256([]byte(key))
	var found *member
	for _, k := range r.keys {
		if subtle.ConstantTimeCompare(sum[:], k.hash[:]) == 1 {
			found = k.member
		}
	}
	return found
}

// byCert finds the caller a verified client certificate names; entries are tried in the key
// file's order and the first that matches wins.
func (r *keyring) byCert(cert *x509.Certificate) *member {
	for _, c := range r.certs {
		if c.matches(cert) {
			return c.member
		}
	}
	return nil
}

func (c certMember) matches(cert *x509.Certificate) bool {
	switch {
	case c.match.CommonName != "":
		return cert.Subject.CommonName == c.match.CommonName
	case c.match.URI != "":
		return slices.ContainsFunc(cert.URIs, func(u *url.URL) bool { return u.String() == c.match.URI })
	case c.match.DNS != "":
		return slices.Contains(cert.DNSNames, c.match.DNS)
	}
	return false
}
