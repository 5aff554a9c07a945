package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
)

// keyPrefix marks jetflow keys so secret scanners and people reading a config recognise one.
const keyPrefix = "jf_"

// HashKey returns what the key file stores for key: the lowercase hex SHA-256 of its bytes,
// the same as `printf %s "$KEY" | sha256sum`.
func HashKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

// NewKey returns a new random API key: "jf_" and 32 random bytes in unpadded base64url.
func NewKey() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("reading random bytes for a key: %w", err)
	}
	return keyPrefix + base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// NewDevKeys returns a new key and a key file holding only it, as an admin caller named name
// allowed every service without a rate limit: what jetflow dev prints and runs the gateway with
// (Config.Keys), so no key file is needed on a development machine.
func NewDevKeys(name string) (key string, keys *KeyFile, err error) {
	key, err = NewKey()
	if err != nil {
		return "", nil, err
	}
	keys = &KeyFile{Callers: []Entry{{
		Name:      name,
		KeySHA256: HashKey(key),
		Services:  []string{"*"},
		Admin:     true,
	}}}
	if err := keys.Validate(); err != nil {
		return "", nil, fmt.Errorf("making development keys for %q: %w", name, err)
	}
	return key, keys, nil
}
