package alert

import (
	"flag"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gpumeter/gpumeter/internal/flagenv"
	"github.com/gpumeter/gpumeter/internal/testenv"
)

// parseFlags builds the client from the collector's flags, as the run command does; log nil: the test's log.
func parseFlags(t *testing.T, args []string, env map[string]string, log *slog.Logger) (*Client, error) {
	t.Helper()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	var f Flags
	f.Register(fs)
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	if err := flagenv.Parse(fs, args, lookup, io.Discard); err != nil {
		t.Fatalf("parse %q: %v", args, err)
	}
	if log == nil {
		log = testenv.Logger(t)
	}
	return f.Client(log)
}

func TestFlagsRejected(t *testing.T) {
	dir := t.TempDir()
	token := filepath.Join(dir, "token")
	if err := os.WriteFile(token, []byte("t\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"not a URL", []string{"--alertmanager-url=ftp://am"}, "--alertmanager-url"},
		{"one of two not a URL", []string{"--alertmanager-url=http://a:9093,nohost"}, "--alertmanager-url"},
		{"password in the URL", []string{"--alertmanager-url=http://u:s3cret@am:9093"}, "--alertmanager-username"},
		{"user without password", []string{"--alertmanager-url=http://am", "--alertmanager-username=u"}, "--alertmanager-username"},
		{"password without user", []string{"--alertmanager-url=http://am", "--alertmanager-password=p"}, "--alertmanager-password"},
		{"basic and bearer", []string{"--alertmanager-url=http://am", "--alertmanager-username=u", "--alertmanager-password=p",
			"--alertmanager-bearer-token-file=" + token}, "not both"},
		{"token file missing", []string{"--alertmanager-url=http://am", "--alertmanager-bearer-token-file=" + filepath.Join(dir, "nope")},
			"--alertmanager-bearer-token-file"},
		{"token file empty", []string{"--alertmanager-url=http://am", "--alertmanager-bearer-token-file=" + empty}, "empty"},
		{"CA file over http", []string{"--alertmanager-url=http://am", "--alertmanager-ca-file=" + token}, "https"},
		{"CA file not PEM", []string{"--alertmanager-url=https://am", "--alertmanager-ca-file=" + token}, "--alertmanager-ca-file"},
		{"credentials without URL", []string{"--alertmanager-username=u", "--alertmanager-password=p"}, "--alertmanager-url"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseFlags(t, tt.args, nil, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one naming %s", err, tt.want)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("error shows the password: %v", err)
			}
		})
	}
	if c, err := parseFlags(t, nil, nil, nil); c != nil || err != nil {
		t.Errorf("no URL: client %v, err %v; want neither", c, err)
	}
}

// TestAuthHeaders: basic auth and the bearer token (read again for each request, so a rotated token is used).
func TestAuthHeaders(t *testing.T) {
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.Header.Get("Authorization"))
	}))
	defer srv.Close()
	token := filepath.Join(t.TempDir(), "token")
	write := func(s string) {
		if err := os.WriteFile(token, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	a := []Alert{{Name: "X"}}
	write("first-token\n")
	c, err := parseFlags(t, []string{"--alertmanager-url=" + srv.URL, "--alertmanager-bearer-token-file=" + token}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, next := range []string{"second-token", ""} {
		if err := c.Post(t.Context(), a, nil, time.Now(), time.Minute); err != nil {
			t.Fatal(err)
		}
		if next != "" {
			write(next)
		}
	}
	c, err = parseFlags(t, []string{"--alertmanager-url=" + srv.URL, "--alertmanager-username=am"},
		map[string]string{"GPUMETER_ALERTMANAGER_PASSWORD": "pw"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Post(t.Context(), a, nil, time.Now(), time.Minute); err != nil {
		t.Fatal(err)
	}
	want := []string{"Bearer first-token", "Bearer second-token", "Basic YW06cHc="}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("Authorization headers %q, want %q", got, want)
	}
}
