package cli

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

// printVersion prints the version and build information the Go toolchain stamped into the
// binary: the module version (a tag, a pseudo-version, or "(devel)" for a local build), the VCS
// revision and time when it was built from a checkout, and the Go version. It needs no server.
func printVersion(w io.Writer) {
	info, ok := debug.ReadBuildInfo()
	writeVersion(w, info, ok)
}

func writeVersion(w io.Writer, info *debug.BuildInfo, ok bool) {
	if !ok {
		fmt.Fprintf(w, "jetflow (no build information)\n  go        %s %s/%s\n", runtime.Version(), runtime.GOOS, runtime.GOARCH)
		return
	}
	version := info.Main.Version
	if version == "" {
		version = "(devel)"
	}
	fmt.Fprintf(w, "jetflow %s\n", version)
	fmt.Fprintf(w, "  module    %s\n", info.Main.Path)
	var revision, at, modified string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			revision = s.Value
		case "vcs.time":
			at = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				modified = " (modified)"
			}
		}
	}
	if revision != "" {
		fmt.Fprintf(w, "  revision  %s%s\n", revision, modified)
	}
	if at != "" {
		fmt.Fprintf(w, "  time      %s\n", at)
	}
	fmt.Fprintf(w, "  go        %s %s/%s\n", info.GoVersion, runtime.GOOS, runtime.GOARCH)
}
