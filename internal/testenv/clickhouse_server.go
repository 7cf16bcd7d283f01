package testenv

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
)

// The users of deploy/local/clickhouse/users.xml: gpumeter's three roles (schema/README.md, "Users and rights").
const (
	MigrateUser = "gpumeter_migrate"
	WriterUser  = "gpumeter_writer"
	ReaderUser  = "gpumeter_reader"
)

// ClickHouseServer is a ClickHouse 18.16 of one test's own, configured from deploy/local/clickhouse's templates
// (config.xml, users.xml and, with TLS, tls.xml) on free loopback ports.
type ClickHouseServer struct {
	Addr      string            // plain native protocol; the default user (no password) is the administrator
	TLSAddr   string            // secure native protocol; "" without TLS
	Database  string            // the database the gpumeter users may see
	Passwords map[string]string // user → password, for MigrateUser, WriterUser and ReaderUser
}

// ClickHouseOptions say how to configure the server.
type ClickHouseOptions struct {
	// TLS serves the secure native port with this certificate and key; CAFile verifies client certificates.
	CertFile, KeyFile, CAFile string
	// RequireClientCert makes the secure port refuse clients without a certificate signed by CAFile.
	RequireClientCert bool
}

// StartClickHouse starts the server and stops it when the test ends. A server that cannot start fails the test.
func StartClickHouse(t testing.TB, o ClickHouseOptions) *ClickHouseServer {
	t.Helper()
	templates := filepath.Join(RepoRoot(t), "deploy", "local", "clickhouse")
	dir := t.TempDir()
	for _, d := range []string{"log", "data/tmp", "data/user_files", "data/format_schemas", "config.d"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	ports := FreePorts(t, 3)
	s := &ClickHouseServer{Addr: "127.0.0.1:" + strconv.Itoa(ports[0]), Database: Name(t, "gpumeter_sec"),
		Passwords: map[string]string{}}
	users := []string{"DB=" + s.Database}
	for _, u := range []string{MigrateUser, WriterUser, ReaderUser} {
		s.Passwords[u] = Name(t, u) // unique per test: no test passes on another's password
		sum := sha256.Sum256([]byte(s.Passwords[u]))
		users = append(users, strings.ToUpper(strings.TrimPrefix(u, "gpumeter_"))+"_PASSWORD_SHA256="+hex.EncodeToString(sum[:]))
	}
	render(t, filepath.Join(templates, "config.xml"), filepath.Join(dir, "config.xml"),
		"CH_DIR="+dir, "CH_PORT="+strconv.Itoa(ports[0]), "CH_HTTP_PORT="+strconv.Itoa(ports[1]))
	render(t, filepath.Join(templates, "users.xml"), filepath.Join(dir, "users.xml"), users...)
	if o.CertFile != "" {
		verify := "none"
		if o.RequireClientCert {
			verify = "strict"
		}
		render(t, filepath.Join(templates, "tls.xml"), filepath.Join(dir, "config.d", "tls.xml"),
			"CH_TLS_PORT="+strconv.Itoa(ports[2]), "CERT="+o.CertFile, "KEY="+o.KeyFile, "CA="+o.CAFile, "VERIFY="+verify)
		s.TLSAddr = "127.0.0.1:" + strconv.Itoa(ports[2])
	}
	ready := func() error {
		conn, err := clickhouse.Open(&clickhouse.Options{Addr: []string{s.Addr}, DialTimeout: time.Second})
		if err != nil {
			return err
		}
		defer conn.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if err := conn.Ping(ctx); err != nil {
			return err
		}
		if s.TLSAddr == "" {
			return nil
		}
		// The secure port answers a TLS handshake (without verifying: readiness only).
		c, err := tls.Dial("tcp", s.TLSAddr, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // readiness probe
		if err != nil {
			return fmt.Errorf("secure port: %w", err)
		}
		return c.Close()
	}
	Server(t, "clickhouse", filepath.Join(dir, "log"), 60*time.Second, ready, "clickhouse-server",
		"--config-file="+filepath.Join(dir, "config.xml"))
	return s
}

// render copies a template, replacing each @KEY@ by VALUE, as services.sh does.
func render(t testing.TB, tmpl, out string, kv ...string) {
	t.Helper()
	b, err := os.ReadFile(tmpl)
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	for _, p := range kv {
		k, v, _ := strings.Cut(p, "=")
		text = strings.ReplaceAll(text, "@"+k+"@", v)
	}
	if err := os.WriteFile(out, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}
