// Package kafkaconf holds the Kafka connection flags both binaries share: brokers, TLS and SASL.
package kafkaconf

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"

	"github.com/gpumeter/gpumeter/internal/credentials"
	"github.com/gpumeter/gpumeter/internal/flagenv"
)

// Flags are the connection settings. Register them on a FlagSet, parse, then call Connect.
type Flags struct {
	Brokers       flagenv.List
	TLS           bool
	CAFile        string
	CertFile      string
	KeyFile       string
	TLSServerName string
	SASLMechanism string
	Username      string
	Password      string
	PasswordFile  string
	// AllowPlaintextSASL lets SASL PLAIN or SCRAM run without TLS (a broker on a trusted network, or TLS terminated
	// by a sidecar). Without it such a configuration is refused: PLAIN sends the password as it is.
	AllowPlaintextSASL bool
}

// Register adds the flags. The password is never given a default, so --help cannot show it.
func (f *Flags) Register(fs *flag.FlagSet) {
	f.Brokers = flagenv.List{"127.0.0.1:9092"}
	fs.Var(&f.Brokers, "kafka-brokers", "comma-separated Kafka bootstrap brokers")
	fs.BoolVar(&f.TLS, "kafka-tls", false, "connect to Kafka over TLS")
	fs.StringVar(&f.CAFile, "kafka-ca-file", "", "PEM file of CAs that sign the brokers' certificates (default: the system's)")
	fs.StringVar(&f.CertFile, "kafka-cert-file", "", "PEM client certificate for mutual TLS")
	fs.StringVar(&f.KeyFile, "kafka-key-file", "", "PEM client key for mutual TLS")
	fs.StringVar(&f.TLSServerName, "kafka-tls-server-name", "", "name to verify in the brokers' certificates (default: the host dialled)")
	fs.StringVar(&f.SASLMechanism, "kafka-sasl-mechanism", "", "SASL mechanism: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (empty: no SASL)")
	fs.StringVar(&f.Username, "kafka-username", "", "SASL user name")
	fs.StringVar(&f.Password, "kafka-password", "", "SASL password; prefer GPUMETER_KAFKA_PASSWORD or --kafka-password-file")
	fs.StringVar(&f.PasswordFile, "kafka-password-file", "", "file holding the SASL password")
	fs.BoolVar(&f.AllowPlaintextSASL, "kafka-allow-plaintext-sasl", false, "allow SASL without --kafka-tls (PLAIN then sends the password in clear)")
}

// Conn is what a producer or consumer needs to connect.
type Conn struct {
	Brokers []string
	TLS     *tls.Config
	SASL    sasl.Mechanism
}

// Transport is for kafka.Writer and kafka.Client. It is never kafka.DefaultTransport, which is shared process-wide
// and caches topic metadata across writers.
func (c Conn) Transport() *kafka.Transport {
	return &kafka.Transport{TLS: c.TLS, SASL: c.SASL, DialTimeout: 10 * time.Second}
}

// Dialer is for kafka.Reader.
func (c Conn) Dialer() *kafka.Dialer {
	return &kafka.Dialer{TLS: c.TLS, SASLMechanism: c.SASL, Timeout: 10 * time.Second, DualStack: true}
}

// Diagnose dials every broker as the readers do (TCP, then TLS and the SASL login, then one request) and says for each that cannot be
// used why, naming it: a refused port, a DNS failure, a failed TLS handshake or SASL login, a timeout. Clients that
// talk to the cluster as a whole (kafka.Client) often report only "[8] Broker Not Available"; the collector adds this
// to such errors. nil when every broker accepts the connection.
func (c Conn) Diagnose(ctx context.Context) error {
	d := c.Dialer()
	var errs []error
	for _, b := range c.Brokers {
		conn, err := d.DialContext(ctx, "tcp", b)
		if err == nil {
			// One request, so that a listener speaking another protocol (TLS) shows.
			_ = conn.SetDeadline(time.Now().Add(d.Timeout))
			_, err = conn.ApiVersions()
			_ = conn.Close()
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("kafka broker %s: %s: %w", b, cause(err), err))
		}
	}
	return errors.Join(errs...)
}

// cause names what kind of failure err is, in the words of the flags that fix it.
func cause(err error) string {
	var dns *net.DNSError
	var tlsErr *tls.CertificateVerificationError
	var netErr net.Error
	switch {
	case errors.As(err, &dns):
		return "DNS lookup failed (check the host name in --kafka-brokers)"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused (nothing listens on that port: check the port in --kafka-brokers)"
	case errors.Is(err, kafka.SASLAuthenticationFailed):
		return "SASL login failed (check --kafka-sasl-mechanism, --kafka-username and the password)"
	case errors.As(err, &tlsErr):
		return "TLS handshake failed (check --kafka-ca-file and --kafka-tls-server-name)"
	case errors.As(err, &netErr) && netErr.Timeout():
		return "timed out (a firewall, or the wrong address?)"
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return "the broker closed the connection (a TLS listener without --kafka-tls, or SASL required?)"
	}
	return "cannot connect"
}

// Connect validates the flags and builds the connection settings; every problem is reported, each naming its flag.
func (f *Flags) Connect() (Conn, error) {
	var errs []error
	c := Conn{Brokers: f.Brokers}
	if len(f.Brokers) == 0 {
		errs = append(errs, errors.New("--kafka-brokers: empty"))
	}
	cfg, err := credentials.TLS{Prefix: "kafka", Enabled: f.TLS, CAFile: f.CAFile, CertFile: f.CertFile, KeyFile: f.KeyFile,
		ServerName: f.TLSServerName}.Config()
	if err != nil {
		errs = append(errs, err)
	}
	c.TLS = cfg
	mech, err := f.sasl()
	if err != nil {
		errs = append(errs, err)
	}
	c.SASL = mech
	return c, errors.Join(errs...)
}

func (f *Flags) sasl() (sasl.Mechanism, error) {
	if f.SASLMechanism == "" {
		switch {
		case f.Username != "":
			return nil, errors.New("--kafka-username: set --kafka-sasl-mechanism too")
		case f.Password != "" || f.PasswordFile != "":
			// A password nobody would use is a configuration mistake, not something to ignore.
			return nil, errors.New("--kafka-password/--kafka-password-file (or GPUMETER_KAFKA_PASSWORD): given without --kafka-sasl-mechanism")
		}
		return nil, nil
	}
	password, err := credentials.Password("kafka", f.Password, f.PasswordFile)
	if err != nil {
		return nil, err
	}
	if f.Username == "" || password == "" {
		return nil, fmt.Errorf("--kafka-sasl-mechanism %s: needs --kafka-username and a password (GPUMETER_KAFKA_PASSWORD or --kafka-password-file)", f.SASLMechanism)
	}
	var m sasl.Mechanism
	switch strings.ToUpper(f.SASLMechanism) {
	case "PLAIN":
		m = plain.Mechanism{Username: f.Username, Password: password}
	case "SCRAM-SHA-256", "SCRAM-SHA-512":
		algo := scram.SHA256
		if strings.ToUpper(f.SASLMechanism) == "SCRAM-SHA-512" {
			algo = scram.SHA512
		}
		if m, err = scram.Mechanism(algo, f.Username, password); err != nil {
			return nil, fmt.Errorf("--kafka-sasl-mechanism: %w", err)
		}
	default:
		return nil, fmt.Errorf("--kafka-sasl-mechanism: %q is not PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", f.SASLMechanism)
	}
	if !f.TLS && !f.AllowPlaintextSASL {
		return nil, fmt.Errorf("--kafka-sasl-mechanism %s: refused without --kafka-tls (the user name and password, or PLAIN's password itself, would cross the network in clear); set --kafka-allow-plaintext-sasl to accept that", m.Name())
	}
	return redacted{m, f.Username}, nil
}

// redacted wraps kafka-go's SASL mechanisms so that printing one, or a Conn that holds it, shows the mechanism and
// user name, never the password: plain.Mechanism is a struct {Username, Password string} that %v prints, and the
// SCRAM mechanism's *scram.Client (which keeps the password) comes out under %s or %q.
type redacted struct {
	sasl.Mechanism
	user string
}

// Format prints the same for every verb.
func (r redacted) Format(s fmt.State, _ rune) {
	fmt.Fprintf(s, "%s{Username:%q Password:redacted}", r.Name(), r.user)
}
