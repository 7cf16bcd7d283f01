// Package version is the version stamped into both binaries at build time:
//
//	go build -ldflags "-X github.com/gpumeter/gpumeter/internal/version.version=$(git describe --tags --always --dirty)"
//
// (make build and deploy/Dockerfile do it). Without the stamp, the module version `go install` records, else the VCS
// revision Go records, else "devel". It is what --version and the version command print, the service.version
// resource attribute and the version label of gpumeter_build_info on /metrics.
package version

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// version is set by the linker (-X); empty when the build did not stamp it.
var version string

// String is the binary's version.
func String() string {
	if version != "" {
		return version
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "devel"
	}
	if v := info.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	if rev := Revision(); rev != "" {
		return "devel-" + rev
	}
	return "devel"
}

// Revision is the VCS revision Go recorded in the binary (12 hex digits, "-dirty" when the tree had changes), or "".
func Revision() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	var rev, modified string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value
		}
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if rev != "" && modified == "true" {
		rev += "-dirty"
	}
	return rev
}

// Line is what `<program> --version` prints: "gpumeter-agent 0.2.0 (go1.26.8 linux/amd64)".
func Line(program string) string {
	return fmt.Sprintf("%s %s (%s %s/%s)", program, String(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
