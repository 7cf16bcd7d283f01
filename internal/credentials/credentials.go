// Package credentials loads what a connection's flags point at, the same way for Kafka and ClickHouse: the TLS
// settings (a CA bundle, a client key pair, the server name) and a password given inline or in a file. Errors name
// the flag at fault (--<prefix>-ca-file, ...), one line each.
package credentials

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"strings"
)

// TLS is a connection's TLS flags: --<Prefix>-tls, --<Prefix>-ca-file, --<Prefix>-cert-file, --<Prefix>-key-file.
// A connection without client certificates leaves CertFile and KeyFile empty.
type TLS struct {
	Prefix     string // the flags' prefix: "kafka", "clickhouse"
	Enabled    bool
	CAFile     string // PEM CAs that sign the server's certificate; empty: the system's
	CertFile   string // PEM client certificate for mutual TLS
	KeyFile    string // PEM client key for mutual TLS
	ServerName string // name to verify in the server's certificate; empty: the host dialled
}

func (t TLS) flag(name string) string { return "--" + t.Prefix + "-" + name }

// Config reads the files and builds the TLS configuration (TLS 1.2 or later); nil when TLS is off. Files given
// without TLS on are refused rather than ignored. It reports the first problem.
func (t TLS) Config() (*tls.Config, error) {
	if !t.Enabled {
		var set []string
		for _, f := range []struct{ name, value string }{{"ca-file", t.CAFile}, {"cert-file", t.CertFile}, {"key-file", t.KeyFile}} {
			if f.value != "" {
				set = append(set, t.flag(f.name))
			}
		}
		if len(set) > 0 {
			return nil, fmt.Errorf("%s: set %s too", strings.Join(set, "/"), t.flag("tls"))
		}
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.ServerName}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", t.flag("ca-file"), err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s: %s holds no PEM certificate", t.flag("ca-file"), t.CAFile)
		}
		cfg.RootCAs = pool
	}
	if (t.CertFile == "") != (t.KeyFile == "") {
		return nil, fmt.Errorf("%s and %s: give both or neither", t.flag("cert-file"), t.flag("key-file"))
	}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("%s/%s: %w", t.flag("cert-file"), t.flag("key-file"), err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// Password is the password of --<prefix>-password (value) or, when given, the content of --<prefix>-password-file
// without its trailing line break. It may be empty: whether a password is required is the caller's to say.
func Password(prefix, value, file string) (string, error) {
	if file == "" {
		return value, nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("--%s-password-file: %w", prefix, err)
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}
