//go:build integration

package kafkaconf_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/gpumeter/gpumeter/internal/flagenv"
	"github.com/gpumeter/gpumeter/internal/kafkaconf"
)

// connect builds a Conn the way the binaries do: flags registered on a FlagSet, flagenv.Parse with the environment
// taken from env, then Connect.
func connect(t *testing.T, args []string, env map[string]string) kafkaconf.Conn {
	t.Helper()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	var f kafkaconf.Flags
	f.Register(fs)
	if err := flagenv.Parse(fs, args, mapLookup(env), io.Discard); err != nil {
		t.Fatalf("parse %q: %v", args, err)
	}
	conn, err := f.Connect()
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	return conn
}

var nonName = regexp.MustCompile(`[^a-zA-Z0-9]+`)

// topicName is unique per test (the broker is shared by the whole binary).
func topicName(t *testing.T) string {
	return fmt.Sprintf("kafkaconf.%s.%d", strings.Trim(nonName.ReplaceAllString(t.Name(), "-"), "-"), time.Now().UnixNano())
}

// TestBrokerSecurity produces to and consumes from the dedicated TLS/SASL broker with each way of authenticating that
// Flags offers, the writer on conn.Transport() and the group reader on conn.Dialer(), as the agent and the collector
// use them.
func TestBrokerSecurity(t *testing.T) {
	b := kafkaBroker(t)
	ca := "--kafka-ca-file=" + b.PKI.CAFile
	passwordFile := filepath.Join(t.TempDir(), "kafka-password")
	if err := os.WriteFile(passwordFile, []byte(scramPassword+"\n"), 0o600); err != nil { // the newline is trimmed
		t.Fatal(err)
	}
	sasl := func(mechanism, password string) []string {
		return []string{"--kafka-brokers=" + b.SASLAddr, "--kafka-tls", ca, "--kafka-sasl-mechanism=" + mechanism,
			"--kafka-username=" + scramUser, "--kafka-password=" + password}
	}
	tests := []struct {
		name string
		args []string
		env  map[string]string
	}{
		{name: "TLS only", args: []string{"--kafka-brokers=" + b.SSLAddr, "--kafka-tls", ca}},
		{name: "TLS server name localhost", args: []string{"--kafka-brokers=" + b.SSLAddr, "--kafka-tls", ca,
			"--kafka-tls-server-name=localhost"}},
		{name: "mutual TLS", args: []string{"--kafka-brokers=" + b.MTLSAddr, "--kafka-tls", ca,
			"--kafka-cert-file=" + b.PKI.ClientCertFile, "--kafka-key-file=" + b.PKI.ClientKeyFile}},
		{name: "SASL PLAIN", args: sasl("PLAIN", plainPassword)},
		{name: "SCRAM-SHA-256", args: sasl("SCRAM-SHA-256", scramPassword)},
		{name: "SCRAM-SHA-512", args: sasl("SCRAM-SHA-512", scramPassword)},
		{name: "SCRAM-SHA-512 password file", args: []string{"--kafka-brokers=" + b.SASLAddr, "--kafka-tls", ca,
			"--kafka-sasl-mechanism=SCRAM-SHA-512", "--kafka-username=" + scramUser, "--kafka-password-file=" + passwordFile}},
		{name: "SCRAM-SHA-256 password from env", args: []string{"--kafka-brokers=" + b.SASLAddr, "--kafka-tls", ca,
			"--kafka-sasl-mechanism=scram-sha-256", "--kafka-username=" + scramUser},
			env: map[string]string{"GPUMETER_KAFKA_PASSWORD": scramPassword}},
		{name: "PLAIN all from env", env: map[string]string{
			"GPUMETER_KAFKA_BROKERS": b.SASLAddr, "GPUMETER_KAFKA_TLS": "true", "GPUMETER_KAFKA_CA_FILE": b.PKI.CAFile,
			"GPUMETER_KAFKA_SASL_MECHANISM": "PLAIN", "GPUMETER_KAFKA_USERNAME": plainUser,
			"GPUMETER_KAFKA_PASSWORD": plainPassword}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			roundTrip(t, connect(t, tt.args, tt.env))
		})
	}
}

// roundTrip creates a topic through conn.Transport(), writes three messages with acks=all and reads them back with a
// consumer group on conn.Dialer(), committing the offsets.
func roundTrip(t *testing.T, conn kafkaconf.Conn) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	topic := topicName(t)

	transport := conn.Transport()
	defer transport.CloseIdleConnections()
	client := &kafka.Client{Addr: kafka.TCP(conn.Brokers...), Transport: transport, Timeout: 15 * time.Second}
	resp, err := client.CreateTopics(ctx, &kafka.CreateTopicsRequest{
		Topics: []kafka.TopicConfig{{Topic: topic, NumPartitions: 1, ReplicationFactor: 1}}})
	if err != nil {
		t.Fatalf("create topic %s: %v", topic, err)
	}
	if err := resp.Errors[topic]; err != nil {
		t.Fatalf("create topic %s: %v", topic, err)
	}

	w := &kafka.Writer{Addr: kafka.TCP(conn.Brokers...), Topic: topic, Transport: transport, RequiredAcks: kafka.RequireAll,
		BatchTimeout: 5 * time.Millisecond, MaxAttempts: 5, WriteTimeout: 10 * time.Second, ReadTimeout: 10 * time.Second}
	defer w.Close()
	want := []string{"gpu-0 3600s", "gpu-1 1800s", "gpu-2 60s"}
	var msgs []kafka.Message
	for i, v := range want {
		msgs = append(msgs, kafka.Message{Key: fmt.Appendf(nil, "node-%d", i), Value: []byte(v)})
	}
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatalf("write to %s: %v", topic, err)
	}

	r := kafka.NewReader(kafka.ReaderConfig{Brokers: conn.Brokers, GroupID: topic, Topic: topic, Dialer: conn.Dialer(),
		StartOffset: kafka.FirstOffset, MaxWait: 100 * time.Millisecond, HeartbeatInterval: time.Second,
		SessionTimeout: 10 * time.Second, RebalanceTimeout: 10 * time.Second,
		// The first group waits for __consumer_offsets to be created; kafka-go's default 5 s backoff is slow for that.
		JoinGroupBackoff: 200 * time.Millisecond})
	defer r.Close()
	var last kafka.Message
	for i, v := range want {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			t.Fatalf("read message %d of %s: %v", i, topic, err)
		}
		if string(m.Value) != v {
			t.Fatalf("message %d is %q, want %q", i, m.Value, v)
		}
		last = m
	}
	if err := r.CommitMessages(ctx, last); err != nil {
		t.Fatalf("commit: %v", err)
	}
}

// TestBrokerSecurityRejects checks that each misconfiguration fails fast with an error that says what is wrong, on
// both paths: kafka.Client over conn.Transport() (writers, topic creation) and conn.Dialer() (readers).
func TestBrokerSecurityRejects(t *testing.T) {
	b := kafkaBroker(t)
	ca := "--kafka-ca-file=" + b.PKI.CAFile
	sasl := func(mechanism, password string) []string {
		return []string{"--kafka-brokers=" + b.SASLAddr, "--kafka-tls", ca, "--kafka-sasl-mechanism=" + mechanism,
			"--kafka-username=" + scramUser, "--kafka-password=" + password}
	}
	stranger, err := newPKI(t.TempDir()) // a client certificate from a CA the broker does not trust
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		args       []string
		env        map[string]string
		want       string // a regexp the error matches
		wantDialer string // for the Dialer path where it differs
	}{
		{name: "wrong password PLAIN", args: sasl("PLAIN", "not-the-password"), want: `SASL Authentication Failed`},
		{name: "wrong password SCRAM-SHA-256", args: sasl("SCRAM-SHA-256", "not-the-password"), want: `SASL Authentication Failed`},
		{name: "wrong password SCRAM-SHA-512 from env", args: []string{"--kafka-brokers=" + b.SASLAddr, "--kafka-tls", ca,
			"--kafka-sasl-mechanism=SCRAM-SHA-512", "--kafka-username=" + scramUser},
			env: map[string]string{"GPUMETER_KAFKA_PASSWORD": "not-the-password"}, want: `SASL Authentication Failed`},
		{name: "PLAIN password with SCRAM", args: sasl("SCRAM-SHA-512", plainPassword), want: `SASL Authentication Failed`},
		{name: "unknown user", args: []string{"--kafka-brokers=" + b.SASLAddr, "--kafka-tls", ca, "--kafka-sasl-mechanism=PLAIN",
			"--kafka-username=mallory", "--kafka-password=" + plainPassword}, want: `SASL Authentication Failed`},
		{name: "TLS without the CA", args: []string{"--kafka-brokers=" + b.SSLAddr, "--kafka-tls"},
			want: `certificate signed by unknown authority`},
		{name: "SASL_SSL without the CA", args: []string{"--kafka-brokers=" + b.SASLAddr, "--kafka-tls",
			"--kafka-sasl-mechanism=SCRAM-SHA-256", "--kafka-username=" + scramUser, "--kafka-password=" + scramPassword},
			want: `certificate signed by unknown authority`},
		{name: "wrong TLS server name", args: []string{"--kafka-brokers=" + b.SSLAddr, "--kafka-tls", ca,
			"--kafka-tls-server-name=kafka.example.com"}, want: `certificate is valid for .*not kafka\.example\.com`},
		// Neither Kafka nor kafka-go can tell much more here: the broker just closes the connection. kafka-go's
		// Transport recognises an EOF during the first exchange as TLS expected; its Dialer says only EOF.
		{name: "plaintext client on the TLS listener", args: []string{"--kafka-brokers=" + b.SSLAddr},
			want: `broker appears to be expecting TLS`, wantDialer: `^EOF$`},
		{name: "plaintext client on the SASL_SSL listener", args: []string{"--kafka-brokers=" + b.SASLAddr},
			want: `broker appears to be expecting TLS`, wantDialer: `^EOF$`},
		// The broker closes the connection at the first request other than ApiVersions or SaslHandshake.
		{name: "TLS without SASL on the SASL_SSL listener", args: []string{"--kafka-brokers=" + b.SASLAddr, "--kafka-tls", ca},
			want: `unexpected EOF`, wantDialer: `^EOF$`},
		{name: "no client certificate on the mutual TLS listener", args: []string{"--kafka-brokers=" + b.MTLSAddr, "--kafka-tls", ca},
			want: `remote error: tls: (bad certificate|certificate required)`},
		{name: "client certificate from another CA", args: []string{"--kafka-brokers=" + b.MTLSAddr, "--kafka-tls", ca,
			"--kafka-cert-file=" + stranger.ClientCertFile, "--kafka-key-file=" + stranger.ClientKeyFile},
			want: `remote error: tls: (unknown certificate|bad certificate)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			conn := connect(t, tt.args, tt.env)
			wantDialer := tt.wantDialer
			if wantDialer == "" {
				wantDialer = tt.want
			}
			for _, path := range []struct {
				name string
				try  func(context.Context, kafkaconf.Conn) error
				want string
			}{{"transport", metadataViaTransport, tt.want}, {"dialer", metadataViaDialer, wantDialer}} {
				ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
				start := time.Now()
				err := path.try(ctx, conn)
				cancel()
				took := time.Since(start)
				t.Logf("%s: %v (%s)", path.name, err, took.Round(time.Millisecond))
				switch {
				case err == nil:
					t.Errorf("%s: no error", path.name)
				case errors.Is(err, context.DeadlineExceeded) || took > 10*time.Second:
					t.Errorf("%s: hung for %s: %v", path.name, took.Round(time.Millisecond), err)
				case !regexp.MustCompile(path.want).MatchString(err.Error()):
					t.Errorf("%s: error %q does not match %q", path.name, err, path.want)
				}
			}
		})
	}
}

func metadataViaTransport(ctx context.Context, conn kafkaconf.Conn) error {
	transport := conn.Transport()
	defer transport.CloseIdleConnections()
	client := &kafka.Client{Addr: kafka.TCP(conn.Brokers...), Transport: transport}
	_, err := client.Metadata(ctx, &kafka.MetadataRequest{})
	return err
}

func metadataViaDialer(ctx context.Context, conn kafkaconf.Conn) error {
	c, err := conn.Dialer().DialContext(ctx, "tcp", conn.Brokers[0])
	if err != nil {
		return err
	}
	defer c.Close()
	if deadline, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(deadline)
	}
	_, err = c.ReadPartitions()
	return err
}
