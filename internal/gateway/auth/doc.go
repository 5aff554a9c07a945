// Package auth decides who may call the gateway: API keys from a key file (a Kubernetes
// Secret mounted as a file), or verified mTLS client certificates, each mapped to a named
// caller with the services it may call, an admin flag and a rate limit.
//
// Keys are stored as the hex SHA-256 of the key, never the key itself, so a leaked key file
// or a backup of the Secret does not hand out working keys. A plain hash is enough here, and
// a slow password hash (bcrypt, argon2) would be the wrong tool: API keys are 256 random bits
// (see NewKey), so there is no dictionary to attack and nothing a work factor would protect;
// a slow hash would only add milliseconds to every call. The hashes are compared in constant
// time against every entry, so the time a refusal takes says nothing about the key file.
//
// The key file is re-read on an interval (Run). Kubernetes updates a mounted Secret by
// swapping a symlink, which fsnotify on the file itself misses; polling the content's hash
// sees every kind of update. A file that fails to read or parse keeps the callers already
// loaded and logs why: a bad edit must not lock every application out.
//
// The Connect interceptor (Interceptor) makes the decision for unary and streaming calls
// alike and puts the Caller in the context (CallerFrom); the HTTP middleware (Middleware)
// records the verified client certificate, which connect-go does not expose to interceptors.
package auth
