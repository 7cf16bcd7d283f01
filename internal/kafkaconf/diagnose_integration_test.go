//go:build integration

package kafkaconf_test

import (
	"strings"
	"testing"
)

// Diagnose names the broker and the cause of each way a connection fails: a refused port, a DNS failure, a failed
// SASL login; and says nothing when the brokers accept the connection.
func TestDiagnose(t *testing.T) {
	b := kafkaBroker(t)
	ca := "--kafka-ca-file=" + b.PKI.CAFile
	for _, tc := range []struct {
		name string
		args []string
		want []string // nil: no problem
	}{
		{"refused", []string{"--kafka-brokers=127.0.0.1:1"}, []string{"kafka broker 127.0.0.1:1: connection refused"}},
		{"dns", []string{"--kafka-brokers=no-such-host.invalid:9092"}, []string{"kafka broker no-such-host.invalid:9092: DNS lookup failed"}},
		{"sasl", []string{"--kafka-brokers=" + b.SASLAddr, "--kafka-tls", ca, "--kafka-sasl-mechanism=SCRAM-SHA-512",
			"--kafka-username=" + scramUser, "--kafka-password=not-the-password"}, []string{"kafka broker " + b.SASLAddr + ": SASL login failed"}},
		{"tls expected", []string{"--kafka-brokers=" + b.SSLAddr}, []string{"the broker closed the connection"}},
		{"fine", []string{"--kafka-brokers=" + b.SASLAddr, "--kafka-tls", ca, "--kafka-sasl-mechanism=SCRAM-SHA-512",
			"--kafka-username=" + scramUser, "--kafka-password=" + scramPassword}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := connect(t, tc.args, nil).Diagnose(t.Context())
			if tc.want == nil {
				if err != nil {
					t.Fatalf("a problem with a good connection: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("no problem found")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%q lacks %q", err, w)
				}
			}
		})
	}
}
