package logging

import (
	"fmt"
	"log/slog"
	"regexp"
	"strings"
)

// userinfo matches the user[:password]@ of a URL's authority: after "scheme://", before the host, with no '/', '?',
// '#', white space or quote in between (so an e-mail address in a path or query is left alone). It is greedy up to
// the last '@' of the authority, as url.Parse is: http://user:p@ss@host hides "user:p@ss".
var userinfo = regexp.MustCompile(`([A-Za-z][A-Za-z0-9+.-]*://)[^/?#\s"'<>@]*(?:@[^/?#\s"'<>@]*)*@`)

// Redacted replaces what a URL's userinfo held.
const Redacted = "REDACTED"

// Redact hides the credentials of every URL in s (http://admin:secret@host → http://REDACTED@host), whole URLs or
// URLs inside error messages alike. The user name goes too: it is often a token. This is the one place that does it:
// every logger built by Options.Logger applies it to every attribute and message, and commands apply it to the error
// they exit with (flagenv.ExitCode).
func Redact(s string) string {
	if !strings.Contains(s, "@") || !strings.Contains(s, "://") {
		return s
	}
	return userinfo.ReplaceAllString(s, "${1}"+Redacted+"@")
}

// redactAttr is the handlers' ReplaceAttr: strings, errors and Stringers (a *url.URL, a list of addresses) are
// rewritten when they hold a URL with credentials; other values pass untouched.
func redactAttr(_ []string, a slog.Attr) slog.Attr {
	var s string
	switch a.Value.Kind() {
	case slog.KindString:
		s = a.Value.String()
	case slog.KindAny:
		switch v := a.Value.Any().(type) {
		case error:
			s = v.Error()
		case fmt.Stringer:
			s = v.String()
		case []string:
			s = strings.Join(v, ",")
		default:
			return a
		}
	default:
		return a
	}
	if r := Redact(s); r != s {
		return slog.String(a.Key, r)
	}
	return a
}
