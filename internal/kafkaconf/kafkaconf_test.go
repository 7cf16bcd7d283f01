package kafkaconf_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gpumeter/gpumeter/internal/flagenv"
	"github.com/gpumeter/gpumeter/internal/kafkaconf"
)

// parse registers the flags on a fresh FlagSet and parses args with the environment taken from env.
func parse(t *testing.T, args []string, env map[string]string) *kafkaconf.Flags {
	t.Helper()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	var f kafkaconf.Flags
	f.Register(fs)
	if err := flagenv.Parse(fs, args, mapLookup(env), io.Discard); err != nil {
		t.Fatalf("parse %q: %v", args, err)
	}
	return &f
}

func mapLookup(env map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := env[k]; return v, ok }
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConnectRejects(t *testing.T) {
	dir := t.TempDir()
	p, err := newPKI(dir)
	if err != nil {
		t.Fatal(err)
	}
	notPEM := writeFile(t, dir, "not.pem", "hello\n")
	missing := filepath.Join(dir, "missing.pem")
	emptyPassword := writeFile(t, dir, "empty-password", "\n")
	sasl := []string{"--kafka-tls", "--kafka-sasl-mechanism=PLAIN", "--kafka-username=alice"}
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want []string // substrings of the error; the first is the flag at fault
	}{
		{name: "no brokers", args: []string{"--kafka-brokers="}, want: []string{"--kafka-brokers", "empty"}},
		{name: "only commas for brokers", args: []string{"--kafka-brokers= , ,"}, want: []string{"--kafka-brokers"}},
		{name: "CA file without TLS", args: []string{"--kafka-ca-file=" + p.CAFile}, want: []string{"--kafka-ca-file", "--kafka-tls"}},
		{name: "client cert without TLS", args: []string{"--kafka-cert-file=" + p.ClientCertFile, "--kafka-key-file=" + p.ClientKeyFile},
			want: []string{"--kafka-cert-file", "--kafka-tls"}},
		{name: "client key without TLS", args: []string{"--kafka-key-file=" + p.ClientKeyFile}, want: []string{"--kafka-key-file", "--kafka-tls"}},
		{name: "CA file missing", args: []string{"--kafka-tls", "--kafka-ca-file=" + missing}, want: []string{"--kafka-ca-file", "no such file"}},
		{name: "CA file not PEM", args: []string{"--kafka-tls", "--kafka-ca-file=" + notPEM}, want: []string{"--kafka-ca-file", "no PEM certificate"}},
		{name: "CA file is a key", args: []string{"--kafka-tls", "--kafka-ca-file=" + p.ClientKeyFile},
			want: []string{"--kafka-ca-file", "no PEM certificate"}},
		{name: "cert without key", args: []string{"--kafka-tls", "--kafka-cert-file=" + p.ClientCertFile},
			want: []string{"--kafka-key-file", "both or neither"}},
		{name: "key without cert", args: []string{"--kafka-tls", "--kafka-key-file=" + p.ClientKeyFile},
			want: []string{"--kafka-cert-file", "both or neither"}},
		{name: "cert and key do not match", args: []string{"--kafka-tls", "--kafka-cert-file=" + p.ClientCertFile,
			"--kafka-key-file=" + p.BrokerKeyFile}, want: []string{"--kafka-cert-file", "private key does not match"}},
		{name: "cert file missing", args: []string{"--kafka-tls", "--kafka-cert-file=" + missing, "--kafka-key-file=" + p.ClientKeyFile},
			want: []string{"--kafka-cert-file", "no such file"}},
		{name: "username without mechanism", args: []string{"--kafka-username=alice"},
			want: []string{"--kafka-username", "--kafka-sasl-mechanism"}},
		{name: "mechanism without username", args: []string{"--kafka-sasl-mechanism=PLAIN", "--kafka-password=x"},
			want: []string{"--kafka-sasl-mechanism", "--kafka-username"}},
		{name: "mechanism without password", args: sasl, want: []string{"--kafka-sasl-mechanism", "GPUMETER_KAFKA_PASSWORD"}},
		{name: "empty password from env", args: sasl, env: map[string]string{"GPUMETER_KAFKA_PASSWORD": ""},
			want: []string{"--kafka-sasl-mechanism", "password"}},
		{name: "password file missing", args: append(sasl, "--kafka-password-file="+missing),
			want: []string{"--kafka-password-file", "no such file"}},
		{name: "password file empty", args: append(sasl, "--kafka-password-file="+emptyPassword),
			want: []string{"--kafka-sasl-mechanism", "--kafka-password-file"}},
		{name: "unknown mechanism", args: []string{"--kafka-sasl-mechanism=GSSAPI", "--kafka-username=alice", "--kafka-password=x"},
			want: []string{"--kafka-sasl-mechanism", `"GSSAPI"`}},
		{name: "password without mechanism", args: []string{"--kafka-password=x"},
			want: []string{"--kafka-password", "without --kafka-sasl-mechanism"}},
		{name: "password from env without mechanism", env: map[string]string{"GPUMETER_KAFKA_PASSWORD": "x"},
			want: []string{"--kafka-password", "without --kafka-sasl-mechanism"}},
		{name: "password file without mechanism", args: []string{"--kafka-password-file=" + emptyPassword},
			want: []string{"--kafka-password", "without --kafka-sasl-mechanism"}},
		{name: "PLAIN over plaintext", args: []string{"--kafka-sasl-mechanism=PLAIN", "--kafka-username=alice", "--kafka-password=x"},
			want: []string{"--kafka-sasl-mechanism", "--kafka-allow-plaintext-sasl"}},
		{name: "SCRAM over plaintext", args: []string{"--kafka-sasl-mechanism=SCRAM-SHA-512", "--kafka-username=alice", "--kafka-password=x"},
			want: []string{"--kafka-sasl-mechanism", "SCRAM-SHA-512", "--kafka-tls"}},
		{name: "unknown mechanism from env", args: []string{"--kafka-username=alice", "--kafka-password=x"},
			env: map[string]string{"GPUMETER_KAFKA_SASL_MECHANISM": "OAUTHBEARER"}, want: []string{"--kafka-sasl-mechanism", `"OAUTHBEARER"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parse(t, tt.args, tt.env).Connect()
			if err == nil {
				t.Fatalf("Connect(%q) = nil error, want one naming %s", tt.args, tt.want[0])
			}
			msg := err.Error()
			if strings.Contains(msg, "\n") {
				t.Errorf("error spans lines: %q", msg)
			}
			if subject, _, _ := strings.Cut(msg, ":"); !strings.Contains(subject, tt.want[0]) {
				t.Errorf("error %q does not start by naming the flag %s", msg, tt.want[0])
			}
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not contain %q", msg, w)
				}
			}
		})
	}
}

// TestConnectReportsEveryProblem: one error line per flag at fault, not only the first.
func TestConnectReportsEveryProblem(t *testing.T) {
	_, err := parse(t, []string{"--kafka-brokers=", "--kafka-ca-file=ca.pem", "--kafka-sasl-mechanism=NOPE",
		"--kafka-username=u", "--kafka-password=p"}, nil).Connect()
	if err == nil {
		t.Fatal("no error")
	}
	lines := strings.Split(err.Error(), "\n")
	want := []string{"--kafka-brokers", "--kafka-ca-file", "--kafka-sasl-mechanism"}
	if len(lines) != len(want) {
		t.Fatalf("error has %d lines, want %d: %q", len(lines), len(want), err)
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], w) {
			t.Errorf("line %d is %q, want it to start with %s", i, lines[i], w)
		}
	}
}

func TestConnect(t *testing.T) {
	dir := t.TempDir()
	p, err := newPKI(dir)
	if err != nil {
		t.Fatal(err)
	}
	sasl := func(mechanism string, more ...string) []string {
		return append([]string{"--kafka-allow-plaintext-sasl", "--kafka-sasl-mechanism=" + mechanism, "--kafka-username=alice"}, more...)
	}
	tests := []struct {
		name       string
		args       []string
		env        map[string]string
		brokers    string
		tls        bool
		rootCAs    bool
		serverName string
		clientCert bool
		mechanism  string
		plainAuth  string // PLAIN's initial response: \x00user\x00password
	}{
		{name: "defaults", brokers: "127.0.0.1:9092"},
		{name: "brokers from env", env: map[string]string{"GPUMETER_KAFKA_BROKERS": "k1:9093, k2:9093"}, brokers: "k1:9093,k2:9093"},
		{name: "TLS with the system's CAs", args: []string{"--kafka-tls"}, tls: true},
		{name: "TLS with a CA file", args: []string{"--kafka-tls", "--kafka-ca-file=" + p.CAFile}, tls: true, rootCAs: true},
		{name: "TLS server name", args: []string{"--kafka-tls", "--kafka-tls-server-name=kafka.internal"}, tls: true,
			serverName: "kafka.internal"},
		{name: "mutual TLS", args: []string{"--kafka-tls", "--kafka-ca-file=" + p.CAFile, "--kafka-cert-file=" + p.ClientCertFile,
			"--kafka-key-file=" + p.ClientKeyFile}, tls: true, rootCAs: true, clientCert: true},
		{name: "TLS from env", env: map[string]string{"GPUMETER_KAFKA_TLS": "true", "GPUMETER_KAFKA_CA_FILE": p.CAFile},
			tls: true, rootCAs: true},
		{name: "PLAIN", args: sasl("PLAIN", "--kafka-password=pw"), mechanism: "PLAIN", plainAuth: "\x00alice\x00pw"},
		{name: "plain in lower case", args: sasl("plain", "--kafka-password=pw"), mechanism: "PLAIN", plainAuth: "\x00alice\x00pw"},
		{name: "SCRAM-SHA-256", args: sasl("SCRAM-SHA-256", "--kafka-password=pw"), mechanism: "SCRAM-SHA-256"},
		{name: "scram-sha-512 in lower case", args: sasl("scram-sha-512", "--kafka-password=pw"), mechanism: "SCRAM-SHA-512"},
		{name: "password from env", args: sasl("PLAIN"), env: map[string]string{"GPUMETER_KAFKA_PASSWORD": "env-pw"},
			mechanism: "PLAIN", plainAuth: "\x00alice\x00env-pw"},
		{name: "password flag beats env", args: sasl("PLAIN", "--kafka-password=flag-pw"),
			env: map[string]string{"GPUMETER_KAFKA_PASSWORD": "env-pw"}, mechanism: "PLAIN", plainAuth: "\x00alice\x00flag-pw"},
		{name: "password file, CRLF trimmed", args: sasl("PLAIN", "--kafka-password-file="+writeFile(t, dir, "pw-crlf", "file pw\r\n")),
			mechanism: "PLAIN", plainAuth: "\x00alice\x00file pw"},
		{name: "password file, other spaces kept", args: sasl("PLAIN", "--kafka-password-file="+writeFile(t, dir, "pw-sp", " pw \n")),
			mechanism: "PLAIN", plainAuth: "\x00alice\x00 pw "},
		// Documents today's rule: the file wins over --kafka-password and GPUMETER_KAFKA_PASSWORD, silently.
		{name: "password file beats env", args: sasl("PLAIN", "--kafka-password-file="+writeFile(t, dir, "pw", "file-pw")),
			env: map[string]string{"GPUMETER_KAFKA_PASSWORD": "env-pw"}, mechanism: "PLAIN", plainAuth: "\x00alice\x00file-pw"},
		{name: "password file from env", args: sasl("SCRAM-SHA-512"),
			env: map[string]string{"GPUMETER_KAFKA_PASSWORD_FILE": writeFile(t, dir, "pw2", "pw\n")}, mechanism: "SCRAM-SHA-512"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn, err := parse(t, tt.args, tt.env).Connect()
			if err != nil {
				t.Fatalf("Connect: %v", err)
			}
			if tt.brokers != "" && strings.Join(conn.Brokers, ",") != tt.brokers {
				t.Errorf("brokers %q, want %q", conn.Brokers, tt.brokers)
			}
			if (conn.TLS != nil) != tt.tls {
				t.Fatalf("TLS config %v, want TLS %v", conn.TLS != nil, tt.tls)
			}
			if conn.TLS != nil {
				if conn.TLS.MinVersion != tls.VersionTLS12 {
					t.Errorf("MinVersion %x, want TLS 1.2", conn.TLS.MinVersion)
				}
				if conn.TLS.InsecureSkipVerify {
					t.Error("InsecureSkipVerify is set")
				}
				if (conn.TLS.RootCAs != nil) != tt.rootCAs {
					t.Errorf("RootCAs set %v, want %v", conn.TLS.RootCAs != nil, tt.rootCAs)
				}
				if conn.TLS.ServerName != tt.serverName {
					t.Errorf("ServerName %q, want %q", conn.TLS.ServerName, tt.serverName)
				}
				if (len(conn.TLS.Certificates) == 1) != tt.clientCert {
					t.Errorf("%d client certificates, want one: %v", len(conn.TLS.Certificates), tt.clientCert)
				}
			}
			// Transport and Dialer carry the same settings.
			tr, d := conn.Transport(), conn.Dialer()
			if tr.TLS != conn.TLS || d.TLS != conn.TLS || tr.SASL != conn.SASL || d.SASLMechanism != conn.SASL {
				t.Error("Transport or Dialer do not carry the Conn's TLS and SASL settings")
			}
			if tt.mechanism == "" {
				if conn.SASL != nil {
					t.Errorf("SASL %s, want none", conn.SASL.Name())
				}
				return
			}
			if conn.SASL == nil {
				t.Fatalf("no SASL, want %s", tt.mechanism)
			}
			if conn.SASL.Name() != tt.mechanism {
				t.Errorf("SASL %s, want %s", conn.SASL.Name(), tt.mechanism)
			}
			_, initial, err := conn.SASL.Start(context.Background())
			if err != nil {
				t.Fatalf("SASL start: %v", err)
			}
			if tt.plainAuth != "" && string(initial) != tt.plainAuth {
				t.Errorf("PLAIN sends %q, want %q", initial, tt.plainAuth)
			}
		})
	}
}

// TestPasswordNotInHelp: --help must not show the password, whether it came from the environment or the command line.
func TestPasswordNotInHelp(t *testing.T) {
	const secret = "s3cret-Kafka-pw"
	tests := []struct {
		name string
		args []string
		env  map[string]string
	}{
		{name: "-h, password in env", args: []string{"-h"}, env: map[string]string{"GPUMETER_KAFKA_PASSWORD": secret}},
		{name: "--help, password in env", args: []string{"--help"}, env: map[string]string{"GPUMETER_KAFKA_PASSWORD": secret}},
		{name: "password flag before -h", args: []string{"--kafka-password=" + secret, "-h"}},
		{name: "password as its own argument before --help", args: []string{"--kafka-username=alice", "--kafka-password", secret, "--help"},
			env: map[string]string{"GPUMETER_KAFKA_PASSWORD": secret}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := flag.NewFlagSet("gpumeter-agent", flag.ContinueOnError)
			var f kafkaconf.Flags
			f.Register(fs)
			fs.Usage = flagenv.Usage(fs, "usage: gpumeter-agent [flags]")
			var out bytes.Buffer
			err := flagenv.Parse(fs, tt.args, mapLookup(tt.env), &out)
			if !errors.Is(err, flagenv.ErrHelp) {
				t.Fatalf("Parse(%q) = %v, want ErrHelp", tt.args, err)
			}
			if !strings.Contains(out.String(), "-kafka-password") {
				t.Fatalf("usage does not list --kafka-password:\n%s", out.String())
			}
			if strings.Contains(out.String(), secret) {
				t.Errorf("usage shows the password:\n%s", out.String())
			}
		})
	}

	// After a parse that applied the environment, a later usage message (say, for a bad argument) is clean too.
	t.Run("usage after parse", func(t *testing.T) {
		fs := flag.NewFlagSet("gpumeter-collector", flag.ContinueOnError)
		var f kafkaconf.Flags
		f.Register(fs)
		if err := flagenv.Parse(fs, nil, mapLookup(map[string]string{"GPUMETER_KAFKA_PASSWORD": secret}), io.Discard); err != nil {
			t.Fatal(err)
		}
		if f.Password != secret {
			t.Fatalf("password %q not taken from the environment", f.Password)
		}
		var out bytes.Buffer
		fs.SetOutput(&out)
		fs.PrintDefaults()
		if strings.Contains(out.String(), secret) {
			t.Errorf("PrintDefaults shows the password:\n%s", out.String())
		}
	})
}

// TestConnDoesNotPrintPassword: logging a Conn (or its SASL mechanism) with any fmt verb must not show the password.
// kafka-go's plain.Mechanism is a struct {Username, Password string} that %v prints, and its SCRAM mechanism prints
// the password under %s and %q; Connect wraps both.
func TestConnDoesNotPrintPassword(t *testing.T) {
	const secret = "s3cret-Kafka-pw"
	for _, mechanism := range []string{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"} {
		t.Run(mechanism, func(t *testing.T) {
			conn, err := parse(t, []string{"--kafka-tls", "--kafka-sasl-mechanism=" + mechanism, "--kafka-username=alice"},
				map[string]string{"GPUMETER_KAFKA_PASSWORD": secret}).Connect()
			if err != nil {
				t.Fatal(err)
			}
			for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d"} {
				for what, v := range map[string]any{"Conn": conn, "Conn.SASL": conn.SASL, "&Conn": &conn,
					"Transport": conn.Transport(), "Dialer": conn.Dialer()} {
					out := fmt.Sprintf(verb, v)
					for _, form := range []string{secret, hex.EncodeToString([]byte(secret)), strings.ToUpper(hex.EncodeToString([]byte(secret)))} {
						if strings.Contains(out, form) {
							t.Errorf("fmt %s of %s shows the password: %s", verb, what, out)
						}
					}
				}
			}
			if mechanism == "PLAIN" {
				if got := fmt.Sprintf("%v", conn.SASL); !strings.Contains(got, "alice") {
					t.Errorf("PLAIN prints as %q, want the user name in it", got)
				}
			}
		})
	}
}
