package buildinfo

import (
	"strings"
	"testing"
)

func TestString(t *testing.T) {
	tests := []struct {
		name string
		info Info
		want []string
		not  []string
	}{
		{
			name: "stamped by the toolchain",
			info: Info{Name: "tts-module", Module: "github.com/jetflow-dev/jetflow", ModuleVersion: "v1.2.3",
				Revision: "abc123", Time: "2026-12-03T09:58:24Z", Modified: true, GoVersion: "go1.26.0", Platform: "linux/amd64"},
			want: []string{"tts-module v1.2.3\n", "revision  abc123, with uncommitted changes", "committed 2026-12-03T09:58:24Z", "go        go1.26.0 linux/amd64"},
		},
		{
			name: "stamped by make binaries only",
			info: Info{Name: "stt-module", Version: "f2a0331-dirty", Module: "github.com/jetflow-dev/jetflow", ModuleVersion: "(devel)", GoVersion: "go1.26.0"},
			want: []string{"stt-module f2a0331-dirty\n", "module    github.com/jetflow-dev/jetflow (devel)"},
			not:  []string{"revision"},
		},
		{
			name: "not stamped",
			info: Info{Name: "chat-handler", ModuleVersion: "(devel)", GoVersion: "go1.26.0"},
			want: []string{"chat-handler (devel)\n", "revision  not recorded"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.info.String()
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("String() does not contain %q:\n%s", w, got)
				}
			}
			for _, n := range tt.not {
				if strings.Contains(got, n) {
					t.Errorf("String() contains %q:\n%s", n, got)
				}
			}
		})
	}
}

func TestReadNamesTheBinaryAndTheToolchain(t *testing.T) {
	info := Read("demo")
	if info.Name != "demo" || !strings.HasPrefix(info.GoVersion, "go1.") || info.Platform == "" {
		t.Errorf("Read = %+v", info)
	}
}
