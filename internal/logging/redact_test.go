package logging

import (
	"bytes"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"
)

func TestRedact(t *testing.T) {
	tests := []struct{ in, want string }{
		{"http://admin:secret@host:9093", "http://REDACTED@host:9093"},
		{"https://token@alertmanager.example/prefix", "https://REDACTED@alertmanager.example/prefix"},
		{"http://user:p@ss@host/x", "http://REDACTED@host/x"}, // the last '@' of the authority, as url.Parse reads it
		{"clickhouse://default:pw@127.0.0.1:9000/gpumeter", "clickhouse://REDACTED@127.0.0.1:9000/gpumeter"},
		{`Post "http://admin:***@127.0.0.1:1/api/v2/alerts": dial tcp: connection refused`,
			`Post "http://REDACTED@127.0.0.1:1/api/v2/alerts": dial tcp: connection refused`},
		{`--alertmanager-url: "ftp://a:b@h" is not an http(s) URL`, `--alertmanager-url: "ftp://REDACTED@h" is not an http(s) URL`},
		{"two: http://a:b@x and https://c:d@y/", "two: http://REDACTED@x and https://REDACTED@y/"},
		// Nothing to hide.
		{"http://host:9093/api", "http://host:9093/api"},
		{"http://host/path?mail=me@example.com", "http://host/path?mail=me@example.com"},
		{"http://host/~me@home", "http://host/~me@home"},
		{"mail me@example.com", "mail me@example.com"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := Redact(tt.in); got != tt.want {
			t.Errorf("Redact(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// Every logger the commands build hides credentials wherever a URL shows up: an attribute, an error, a *url.URL,
// a list, the message itself, in text and JSON.
func TestLoggerRedactsURLCredentials(t *testing.T) {
	u, _ := url.Parse("http://admin:secret@host:9093")
	for _, format := range []string{"text", "json"} {
		var buf bytes.Buffer
		log, err := (&Options{Level: "debug", Format: format}).Logger(&buf)
		if err != nil {
			t.Fatal(err)
		}
		log = log.With("component", "test", "base", "https://admin:secret@base")
		log.Info("collector consuming", "alertmanager", "http://admin:secret@host:9093")
		log.Warn("alertmanager unreachable", "err", fmt.Errorf("post: %w", &url.Error{Op: "Post",
			URL: "http://admin:***@host:9093/api/v2/alerts", Err: errors.New("connection refused")}))
		log.Info("parsed", "url", u, "list", []string{"http://admin:secret@a", "b"})
		log.Info("message with http://admin:secret@host inside")
		log.WithGroup("g").Info("grouped", "url", "http://admin:secret@host")
		out := buf.String()
		if strings.Contains(out, "secret") || strings.Contains(out, "admin") {
			t.Errorf("%s: credentials logged:\n%s", format, out)
		}
		if n := strings.Count(out, Redacted+"@"); n != 11 {
			t.Errorf("%s: %d redactions, want 11 (one base per line):\n%s", format, n, out)
		}
		if !strings.Contains(out, "host:9093") {
			t.Errorf("%s: the host should stay:\n%s", format, out)
		}
	}
}
