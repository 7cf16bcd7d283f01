package alert

import (
	"bytes"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"
)

// An Alertmanager URL with credentials that cannot be reached: neither the log lines of the failed evaluation nor the
// error the notifier returns show the user or the password, even through a logger that does not redact.
func TestNotifierNeverShowsCredentials(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close() // nothing listens there now: every post fails to connect
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	n := NewNotifier(&Client{URLs: []string{"http://admin:secret@" + addr}, Log: log}, time.Minute, log)
	n.minBackoff, n.maxAttempts = time.Millisecond, 2
	err = n.Update(t.Context(), []Alert{{Name: "A", Labels: map[string]string{"commitment": "c"}}}, time.Now())
	if err == nil {
		t.Fatal("update of an unreachable alertmanager succeeded")
	}
	for what, s := range map[string]string{"error": err.Error(), "log": buf.String()} {
		if strings.Contains(s, "secret") || strings.Contains(s, "admin") {
			t.Errorf("%s shows credentials: %s", what, s)
		}
		if !strings.Contains(s, addr) {
			t.Errorf("%s should still name the host %s: %s", what, addr, s)
		}
	}
}
