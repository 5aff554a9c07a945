package auth

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync/atomic"
	"time"
)

// DefaultReloadInterval is how often the key file is checked when Config.ReloadInterval is zero.
const DefaultReloadInterval = 10 * time.Second

// Config says where the callers come from.
type Config struct {
	// KeysFile is the path of the key file, re-read every ReloadInterval. Empty means Keys.
	KeysFile string
	// Keys are callers given in code (jetflow dev's key), used only when KeysFile is empty;
	// they never change.
	Keys *KeyFile
	// ReloadInterval is how often KeysFile is read to see whether it changed; zero means
	// DefaultReloadInterval.
	ReloadInterval time.Duration
	// Logger receives reloads and reload errors; nil discards them.
	Logger *slog.Logger
}

// Validate checks that the callers come from somewhere.
func (c Config) Validate() error {
	switch {
	case c.KeysFile == "" && c.Keys == nil:
		return fmt.Errorf("no key file and no keys: without callers nobody could call the gateway")
	case c.ReloadInterval < 0:
		return fmt.Errorf("reload interval %v is negative", c.ReloadInterval)
	}
	return nil
}

// Authenticator decides who may call. Safe for concurrent use.
type Authenticator struct {
	cfg  Config
	log  *slog.Logger
	ring atomic.Pointer[keyring]

	// Touched only by New and then Run's goroutine.
	loadedSum [sha256.Size]byte
	lastErr   string
}

// New loads the callers once; a key file that cannot be read or is invalid is an error here,
// where a reload would keep the callers it has.
func New(cfg Config) (*Authenticator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("configuring the gateway's authentication: %w", err)
	}
	if cfg.ReloadInterval == 0 {
		cfg.ReloadInterval = DefaultReloadInterval
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	a := &Authenticator{cfg: cfg, log: log}
	if cfg.KeysFile == "" {
		if err := cfg.Keys.Validate(); err != nil {
			return nil, fmt.Errorf("checking the keys given: %w", err)
		}
		a.ring.Store(newKeyring(cfg.Keys, nil))
		return a, nil
	}
	kf, sum, err := readKeyFile(cfg.KeysFile)
	if err != nil {
		return nil, err
	}
	a.loadedSum = sum
	a.ring.Store(newKeyring(kf, nil))
	log.Info("loaded the key file", "path", cfg.KeysFile, "callers", len(kf.Callers))
	return a, nil
}

// Load is New with only a key file.
func Load(path string) (*Authenticator, error) {
	return New(Config{KeysFile: path})
}

// Run re-reads the key file every ReloadInterval until ctx ends, then returns nil. Reading the
// content, rather than watching for events, also sees Kubernetes' symlink swap of a mounted
// Secret. Without a key file it only waits for ctx.
func (a *Authenticator) Run(ctx context.Context) error {
	if a.cfg.KeysFile == "" {
		<-ctx.Done()
		return nil
	}
	ticker := time.NewTicker(a.cfg.ReloadInterval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
			a.reload()
		}
	}
}

// reload swaps in the key file if its content changed and it is valid; otherwise the callers
// stay as they are and the error is logged (once until it changes, not every interval).
func (a *Authenticator) reload() {
	kf, sum, err := readKeyFile(a.cfg.KeysFile)
	if err != nil {
		if msg := err.Error(); msg != a.lastErr {
			a.log.Error("reloading the key file; keeping the callers loaded before", "path", a.cfg.KeysFile, "error", err)
			a.lastErr = msg
		}
		return
	}
	if a.lastErr != "" {
		a.log.Info("the key file is readable again", "path", a.cfg.KeysFile)
		a.lastErr = ""
	}
	if sum == a.loadedSum {
		return
	}
	a.ring.Store(newKeyring(kf, a.ring.Load()))
	a.loadedSum = sum
	a.log.Info("reloaded the key file", "path", a.cfg.KeysFile, "callers", len(kf.Callers))
}

func readKeyFile(path string) (*KeyFile, [sha256.Size]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, [sha256.Size]byte{}, fmt.Errorf("opening the key file: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFileBytes+1))
	if err != nil {
		return nil, [sha256.Size]byte{}, fmt.Errorf("reading the key file %s: %w", path, err)
	}
	kf, err := ParseKeyFile(data)
	if err != nil {
		return nil, [sha256.Size]byte{}, fmt.Errorf("parsing the key file %s: %w", path, err)
	}
	return kf, sha256.Sum256(data), nil
}
