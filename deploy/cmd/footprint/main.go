// Command footprint measures worker binaries and the gateway's (size, time to ready, memory idle and under load,
// clean stop) against an embedded JetStream server and stand-in models, prints a Markdown table
// and exits 1 when a worker is over budget, 2 when it cannot measure one (a binary is missing,
// say). deploy/footprint.sh runs it on the binaries of make binaries:
//
//	footprint -bin DIR [-requests 300] [-log FILE]
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/jetflow-dev/jetflow/deploy"
	"github.com/jetflow-dev/jetflow/deploy/internal/footprint"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	code := run(ctx, os.Args[1:])
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string) (code int) {
	fs := flag.NewFlagSet("footprint", flag.ContinueOnError)
	bin := fs.String("bin", "bin", "directory with the built worker binaries")
	requests := fs.Int("requests", 300, "requests published to each worker that has a load generator")
	logFile := fs.String("log", "", "file for the workers' own logs (default: discarded)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	out := io.Discard
	if *logFile != "" {
		f, err := os.Create(*logFile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "footprint:", err)
			return 2
		}
		defer f.Close()
		out = f
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	p, err := footprint.StartPlatform(ctx, log)
	if err != nil {
		fmt.Fprintln(os.Stderr, "footprint:", err)
		return 2
	}
	defer func() {
		if err := p.Close(); err != nil {
			fmt.Fprintln(os.Stderr, "footprint: the measurements are not to be trusted:", err)
			code = 2
		}
	}()
	// With MILVUS_ADDR set, chat requests use RAG against that Milvus; without, they skip it.
	milvus := map[string]string{}
	for _, k := range []string{"MILVUS_ADDR", "MILVUS_COLLECTION"} {
		if v, ok := os.LookupEnv(k); ok {
			milvus[k] = v
		}
	}
	loaders := footprint.Loaders(milvus["MILVUS_ADDR"] == "")
	keysDir, err := os.MkdirTemp("", "footprint-gateway")
	if err != nil {
		fmt.Fprintln(os.Stderr, "footprint:", err)
		return 2
	}
	defer os.RemoveAll(keysDir)
	gateway, err := footprint.GatewayEnv(keysDir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "footprint:", err)
		return 2
	}
	extra := map[string]map[string]string{deploy.GatewayName: gateway}
	var results []footprint.Result
	for _, w := range append(deploy.Workers(), deploy.Gateway()) {
		env := maps.Clone(milvus)
		maps.Copy(env, extra[w.Name])
		t := footprint.Target{
			Worker:   w,
			Binary:   filepath.Join(*bin, w.Name),
			Env:      func(addr string) []string { return p.Env(addr, env) },
			Load:     loaders[w.Name],
			Requests: *requests,
			Output:   out,
		}
		if t.Load == nil {
			t.LoadNote = "no load generator"
		}
		fmt.Fprintf(os.Stderr, "footprint: measuring %s\n", w.Name)
		r, err := footprint.Measure(ctx, p, t)
		if err != nil {
			fmt.Fprintf(os.Stderr, "footprint: measuring %s: %v\n", w.Name, err)
			return 2
		}
		results = append(results, r)
	}
	ok, err := footprint.WriteTable(os.Stdout, footprint.DefaultBudgets, results)
	if err != nil || !ok {
		return 1
	}
	return 0
}
