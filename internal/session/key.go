package session

import (
	"fmt"
	"strings"

	"github.com/jetflow-dev/jetflow/internal/failure"
)

// MaxKeyLen bounds a key's length. A key becomes part of a subject, and session ids come from
// outside; 256 bytes is far above any real id and far below the server's limits.
const MaxKeyLen = 256

// ValidateKey reports whether key can name a session: 1 to MaxKeyLen bytes of
// [-/_=.a-zA-Z0-9], not starting or ending with '.', without "..". That is the JetStream KV key
// charset (nats.go jetstream/kv.go keyValid). Callers may check ids up front with it; every
// Store method checks too. The error matches ErrInvalidKey and is marked failure.Permanent.
func ValidateKey(key string) error {
	if len(key) == 0 {
		return failure.Permanent(fmt.Errorf("%w: empty", ErrInvalidKey))
	}
	if len(key) > MaxKeyLen {
		return failure.Permanent(fmt.Errorf("%w: %d bytes, limit %d", ErrInvalidKey, len(key), MaxKeyLen))
	}
	if key[0] == '.' || key[len(key)-1] == '.' || strings.Contains(key, "..") {
		return failure.Permanent(fmt.Errorf("%w: %q has an empty dot-separated token", ErrInvalidKey, key))
	}
	for i := 0; i < len(key); i++ {
		if !keyByte(key[i]) {
			return failure.Permanent(fmt.Errorf("%w: %q has byte %q at %d", ErrInvalidKey, key, key[i], i))
		}
	}
	return nil
}

func keyByte(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	case c == '-', c == '/', c == '_', c == '=', c == '.':
		return true
	}
	return false
}
