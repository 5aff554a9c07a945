// Command gen-nack writes the NACK Stream, Consumer and KeyValue resources of streams/ into a
// directory (deploy/kubernetes/base/nack), replacing the files it generated before:
//
//	go -C deploy run ./cmd/gen-nack -out kubernetes/base/nack
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/jetflow-dev/jetflow/deploy/nack"
	"github.com/jetflow-dev/jetflow/streams"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "gen-nack:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("gen-nack", flag.ContinueOnError)
	out := fs.String("out", "kubernetes/base/nack", "directory to write the resources into")
	replicas := fs.Int("replicas", nack.DefaultReplicas, "num_replicas of every stream and bucket (0: as in streams/)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	set, err := streams.Load()
	if err != nil {
		return err
	}
	files, err := nack.Generate(set, nack.Options{Replicas: *replicas})
	if err != nil {
		return err
	}
	return write(*out, files)
}

// write puts files into dir and removes the files a previous run generated that are no longer
// produced (a renamed stream). Files without the generated header are left alone.
func write(dir string, files []nack.File) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", dir, err)
	}
	keep := make(map[string]bool, len(files))
	for _, f := range files {
		keep[f.Name] = true
		if err := os.WriteFile(filepath.Join(dir, f.Name), f.Data, 0o644); err != nil {
			return fmt.Errorf("writing %s: %w", f.Name, err)
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("listing %s: %w", dir, err)
	}
	var errs []error
	for _, e := range entries {
		if e.IsDir() || keep[e.Name()] || !strings.HasSuffix(e.Name(), ".yaml") {
			continue
		}
		p := filepath.Join(dir, e.Name())
		data, err := os.ReadFile(p)
		if err != nil {
			errs = append(errs, fmt.Errorf("reading %s: %w", p, err))
			continue
		}
		if bytes.HasPrefix(data, []byte(nack.Header)) {
			if err := os.Remove(p); err != nil {
				errs = append(errs, fmt.Errorf("removing stale %s: %w", p, err))
			}
		}
	}
	return errors.Join(errs...)
}
