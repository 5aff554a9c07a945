package pipeline

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

// maxTokenBytes bounds a token file.
const maxTokenBytes = 64 << 10

// StaticToken returns a token source that always yields token.
func StaticToken(token string) func() (string, error) {
	return func() (string, error) { return token, nil }
}

// FileToken returns a token source that reads the token from path, and reads it again when the
// file changes: the kubelet rotates projected service-account tokens in place. The token is
// never logged or put in an error.
func FileToken(path string) func() (string, error) {
	t := &fileToken{path: path}
	return t.get
}

type fileToken struct {
	path string

	mu      sync.Mutex
	token   string
	modTime time.Time
	size    int64
}

func (t *fileToken) get() (string, error) {
	fi, err := os.Stat(t.path)
	if err != nil {
		return "", fmt.Errorf("reading token file %s: %w", t.path, err)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.token != "" && fi.ModTime().Equal(t.modTime) && fi.Size() == t.size {
		return t.token, nil
	}
	f, err := os.Open(t.path)
	if err != nil {
		return "", fmt.Errorf("reading token file %s: %w", t.path, err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxTokenBytes+1))
	if err != nil {
		return "", fmt.Errorf("reading token file %s: %w", t.path, err)
	}
	if len(b) > maxTokenBytes {
		return "", fmt.Errorf("token file %s is larger than %d bytes", t.path, maxTokenBytes)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", fmt.Errorf("token file %s is empty", t.path)
	}
	t.token, t.modTime, t.size = tok, fi.ModTime(), fi.Size()
	return tok, nil
}
