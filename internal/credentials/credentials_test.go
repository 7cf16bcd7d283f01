package credentials

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// selfSigned writes a CA certificate and its key as PEM files.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test"},
		NotBefore: time.Unix(0, 0), NotAfter: time.Unix(1<<32, 0), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile = write(t, dir, "cert.pem", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})))
	keyFile = write(t, dir, "key.pem", string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})))
	return certFile, keyFile
}

func write(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestTLSConfig(t *testing.T) {
	dir := t.TempDir()
	cert, key := selfSigned(t, dir)
	notPEM := write(t, dir, "not.pem", "hello\n")
	missing := filepath.Join(dir, "missing.pem")
	for _, tc := range []struct {
		name string
		in   TLS
		want string // substring of the error; "" for none
	}{
		{"off", TLS{Prefix: "clickhouse"}, ""},
		{"CA without TLS", TLS{Prefix: "clickhouse", CAFile: cert}, "--clickhouse-ca-file: set --clickhouse-tls too"},
		{"key pair without TLS", TLS{Prefix: "kafka", CertFile: cert, KeyFile: key}, "--kafka-cert-file/--kafka-key-file: set --kafka-tls too"},
		{"system CAs", TLS{Prefix: "kafka", Enabled: true}, ""},
		{"CA file", TLS{Prefix: "kafka", Enabled: true, CAFile: cert, ServerName: "broker"}, ""},
		{"client key pair", TLS{Prefix: "kafka", Enabled: true, CertFile: cert, KeyFile: key}, ""},
		{"CA missing", TLS{Prefix: "clickhouse", Enabled: true, CAFile: missing}, "--clickhouse-ca-file: open"},
		{"CA not PEM", TLS{Prefix: "clickhouse", Enabled: true, CAFile: notPEM}, "--clickhouse-ca-file: " + notPEM + " holds no PEM certificate"},
		{"cert without key", TLS{Prefix: "kafka", Enabled: true, CertFile: cert}, "--kafka-cert-file and --kafka-key-file: give both or neither"},
		{"key is not a key", TLS{Prefix: "kafka", Enabled: true, CertFile: cert, KeyFile: notPEM}, "--kafka-cert-file/--kafka-key-file: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := tc.in.Config()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("Config() = %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("Config() error %v, want %q", err, tc.want)
			case tc.want != "":
				return
			}
			if (cfg != nil) != tc.in.Enabled {
				t.Fatalf("Config() = %v with TLS enabled %v", cfg, tc.in.Enabled)
			}
			if cfg == nil {
				return
			}
			if cfg.MinVersion < 0x0303 || cfg.ServerName != tc.in.ServerName || (cfg.RootCAs != nil) != (tc.in.CAFile != "") ||
				len(cfg.Certificates) != map[bool]int{false: 0, true: 1}[tc.in.CertFile != ""] {
				t.Errorf("Config() = %+v for %+v", cfg, tc.in)
			}
		})
	}
}

func TestPassword(t *testing.T) {
	dir := t.TempDir()
	file := write(t, dir, "pw", "s3cret\r\n")
	if got, err := Password("kafka", "inline", ""); err != nil || got != "inline" {
		t.Errorf("inline: %q, %v", got, err)
	}
	if got, err := Password("kafka", "inline", file); err != nil || got != "s3cret" {
		t.Errorf("file: %q, %v; want the file's content without its line break, over the inline value", got, err)
	}
	if _, err := Password("clickhouse", "", filepath.Join(dir, "missing")); err == nil || !strings.HasPrefix(err.Error(), "--clickhouse-password-file: ") {
		t.Errorf("missing file: %v", err)
	}
}
