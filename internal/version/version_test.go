package version

import (
	"runtime"
	"strings"
	"testing"
)

func TestStamped(t *testing.T) {
	old := version
	t.Cleanup(func() { version = old })
	version = "v0.2.0-3-gabcdef"
	if got := String(); got != "v0.2.0-3-gabcdef" {
		t.Errorf("String() = %q", got)
	}
	if got := Line("gpumeter-agent"); got != "gpumeter-agent v0.2.0-3-gabcdef ("+runtime.Version()+" "+runtime.GOOS+"/"+runtime.GOARCH+")" {
		t.Errorf("Line() = %q", got)
	}
}

func TestUnstamped(t *testing.T) {
	old := version
	t.Cleanup(func() { version = old })
	version = ""
	if got := String(); got == "" || strings.ContainsAny(got, " \n") {
		t.Errorf("String() without a stamp = %q, want one word", got)
	}
}
