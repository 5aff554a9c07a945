// Package buildinfo says which build a binary is, for its --version: the version make binaries
// stamps, and what the Go toolchain recorded (module version, VCS revision, commit time, whether
// the tree had local changes, the Go version).
//
// The toolchain records the revision only when it builds a main package inside a git checkout
// with VCS stamping on (the default; -buildvcs=false or GOFLAGS=-buildvcs=false turns it off,
// and a git worktree, whose .git is a file, is not recognised). make binaries therefore stamps
// `git describe` itself, so a binary it built always says where it came from.
package buildinfo

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
)

// version is set by make binaries: -ldflags "-X github.com/jetflow-dev/jetflow/internal/buildinfo.version=..."
// (`git describe --tags --always --dirty`). Empty when built otherwise (go build, go run, tests).
var version string

// Info is what a binary knows about its build.
type Info struct {
	// Name is the binary's name.
	Name string
	// Version is what make binaries stamped; empty when built otherwise.
	Version string
	// Module is the main module's path and ModuleVersion its version as Go recorded it: a tag,
	// a pseudo-version, or "(devel)".
	Module, ModuleVersion string
	// Revision, Time and Modified are the VCS stamp: the commit, its time (RFC 3339) and whether
	// the tree had uncommitted changes. Revision is empty when Go recorded none.
	Revision, Time string
	Modified       bool
	// GoVersion is the toolchain that built the binary (go1.26.0); Platform is GOOS/GOARCH.
	GoVersion, Platform string
}

// Read returns the build information of the running binary, named name.
func Read(name string) Info {
	info := Info{
		Name:      name,
		Version:   version,
		GoVersion: runtime.Version(),
		Platform:  runtime.GOOS + "/" + runtime.GOARCH,
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return info
	}
	info.Module, info.ModuleVersion = bi.Main.Path, bi.Main.Version
	info.GoVersion = bi.GoVersion
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			info.Revision = s.Value
		case "vcs.time":
			info.Time = s.Value
		case "vcs.modified":
			info.Modified = s.Value == "true"
		}
	}
	return info
}

// String is the --version text: the name and version on the first line, then the build.
func (i Info) String() string {
	var b strings.Builder
	v := i.Version
	if v == "" {
		v = i.ModuleVersion
	}
	if v == "" {
		v = "(unknown version)"
	}
	fmt.Fprintf(&b, "%s %s\n", i.Name, v)
	if i.Module != "" {
		fmt.Fprintf(&b, "  module    %s %s\n", i.Module, i.ModuleVersion)
	}
	switch {
	case i.Revision == "" && i.Version == "":
		fmt.Fprintf(&b, "  revision  not recorded (built with -buildvcs=false or outside a git checkout)\n")
	case i.Revision == "":
		// The version make binaries stamped (git describe) names the commit.
	case i.Modified:
		fmt.Fprintf(&b, "  revision  %s, with uncommitted changes\n", i.Revision)
	default:
		fmt.Fprintf(&b, "  revision  %s\n", i.Revision)
	}
	if i.Time != "" {
		fmt.Fprintf(&b, "  committed %s\n", i.Time)
	}
	fmt.Fprintf(&b, "  go        %s %s\n", i.GoVersion, i.Platform)
	return b.String()
}
