package session

import (
	"errors"
	"regexp"
	"strings"
	"testing"
)

// natsKey is nats.go's own rule (jetstream/kv.go validKeyRe and keyValid), the reference
// ValidateKey must agree with below MaxKeyLen.
var natsKey = regexp.MustCompile(`^[-/_=\.a-zA-Z0-9]+$`)

func natsKeyValid(key string) bool {
	if len(key) == 0 || key[0] == '.' || key[len(key)-1] == '.' || strings.Contains(key, "..") {
		return false
	}
	return natsKey.MatchString(key)
}

func TestValidateKey(t *testing.T) {
	tests := []struct {
		name string
		key  string
		ok   bool
	}{
		{name: "uuid", key: "0b6c3c1e-5d4f-4e8a-9d0b-3f1f2c6a7e21", ok: true},
		{name: "dotted", key: "tenant.session_1", ok: true},
		{name: "slash and equals", key: "a/b=c", ok: true},
		{name: "longest", key: strings.Repeat("k", MaxKeyLen), ok: true},
		{name: "empty", key: ""},
		{name: "too long", key: strings.Repeat("k", MaxKeyLen+1)},
		{name: "leading dot", key: ".a"},
		{name: "trailing dot", key: "a."},
		{name: "double dot", key: "a..b"},
		{name: "space", key: "a b"},
		{name: "wildcard", key: "a.*"},
		{name: "full wildcard", key: "a.>"},
		{name: "non-ascii", key: "sessión"},
		{name: "nul", key: "a\x00"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateKey(tt.key)
			if (err == nil) != tt.ok {
				t.Fatalf("ValidateKey(%q) = %v, want ok %v", tt.key, err, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrInvalidKey) {
				t.Fatalf("ValidateKey(%q) = %v, want ErrInvalidKey", tt.key, err)
			}
		})
	}
}

// FuzzValidateKey checks ValidateKey against nats.go's rule: session ids come from outside, and
// a key ValidateKey lets through must never be refused later by the KV client.
func FuzzValidateKey(f *testing.F) {
	for _, seed := range []string{"", "a", "a.b", "a..b", ".", "a/b=c-d_e", "a b", "*", ">", "\xff", strings.Repeat("z", MaxKeyLen+1)} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, key string) {
		err := ValidateKey(key)
		want := natsKeyValid(key) && len(key) <= MaxKeyLen
		if (err == nil) != want {
			t.Fatalf("ValidateKey(%q) = %v, nats.go rule says valid=%v", key, err, want)
		}
	})
}
