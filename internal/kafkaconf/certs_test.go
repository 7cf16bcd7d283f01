package kafkaconf_test

import (
	"os"
	"path/filepath"

	"github.com/gpumeter/gpumeter/internal/testpki"
)

// pki is a throw-away CA (internal/testpki) with what the dedicated broker needs besides: its key, certificate and
// the CA in one PEM key store. The client certificate's CN is gpumeter. Keys are unencrypted PKCS#8, the only
// unencrypted form Kafka's PEM key store reads.
type pki struct {
	*testpki.PKI
	BrokerKeyStore string // broker key, then its certificate, then the CA: Kafka's ssl.keystore.location (PEM)
	BrokerCertFile string // broker certificate alone (the server certificate: 127.0.0.1, ::1, localhost)
	BrokerKeyFile  string // broker key alone
}

// newPKI writes a fresh CA, broker and client certificate into dir.
func newPKI(dir string) (*pki, error) {
	p, err := testpki.Write(dir)
	if err != nil {
		return nil, err
	}
	var store []byte
	for _, f := range []string{p.ServerKeyFile, p.ServerCertFile, p.CAFile} {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		store = append(store, b...)
	}
	ks := filepath.Join(dir, "broker-keystore.pem")
	if err := os.WriteFile(ks, store, 0o600); err != nil {
		return nil, err
	}
	return &pki{PKI: p, BrokerKeyStore: ks, BrokerCertFile: p.ServerCertFile, BrokerKeyFile: p.ServerKeyFile}, nil
}
