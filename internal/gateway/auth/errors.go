package auth

import "errors"

// ErrInvalidKeyFile marks a key file that does not decode or does not validate.
var ErrInvalidKeyFile = errors.New("invalid key file")

// Refusal reasons, as the error messages of the Connect errors the interceptor returns.
// They never repeat the key or name the caller a key would belong to.
var (
	errNoCredentials = errors.New("no API key (Authorization: Bearer <key> or x-api-key) and no verified client certificate")
	errUnknownKey    = errors.New("unknown API key")
	errUnknownCert   = errors.New("client certificate not in the key file")
	errNotAllowed    = errors.New("caller may not call this service")
	errNeedsAdmin    = errors.New("AdminService needs an admin caller")
	errRateLimited   = errors.New("caller over its rate limit")
)
