package kafkaconf_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// pki is a throw-away CA with a broker certificate (127.0.0.1, ::1, localhost) and a client certificate, as PEM
// files in one directory. Keys are unencrypted PKCS#8, the only unencrypted form Kafka's PEM key store reads.
type pki struct {
	CAFile string // CA certificate: the clients' --kafka-ca-file and the broker's trust store

	BrokerKeyStore string // broker key, then its certificate, then the CA: Kafka's ssl.keystore.location (PEM)
	BrokerCertFile string // broker certificate alone
	BrokerKeyFile  string // broker key alone

	ClientCertFile string // client certificate for mutual TLS (CN=alice)
	ClientKeyFile  string
}

// newPKI writes a fresh CA, broker and client certificate into dir.
func newPKI(dir string) (*pki, error) {
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "gpumeter kafkaconf test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLenZero:        true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, caKey.Public(), caKey)
	if err != nil {
		return nil, err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, err
	}
	leaf := func(cn string, usage []x509.ExtKeyUsage, dns []string, ips []net.IP) ([]byte, crypto.Signer, error) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, nil, err
		}
		der, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{
			SerialNumber: serial(),
			Subject:      pkix.Name{CommonName: cn},
			NotBefore:    now.Add(-time.Hour),
			NotAfter:     now.Add(24 * time.Hour),
			KeyUsage:     x509.KeyUsageDigitalSignature,
			ExtKeyUsage:  usage,
			DNSNames:     dns,
			IPAddresses:  ips,
		}, ca, key.Public(), caKey)
		return der, key, err
	}
	// The broker's certificate also serves as its client certificate on its own inter-broker SSL connections.
	brokerDER, brokerKey, err := leaf("localhost", []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		[]string{"localhost"}, []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback})
	if err != nil {
		return nil, err
	}
	clientDER, clientKey, err := leaf("alice", []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, nil, nil)
	if err != nil {
		return nil, err
	}

	p := &pki{
		CAFile:         filepath.Join(dir, "ca.pem"),
		BrokerKeyStore: filepath.Join(dir, "broker-keystore.pem"),
		BrokerCertFile: filepath.Join(dir, "broker-cert.pem"),
		BrokerKeyFile:  filepath.Join(dir, "broker-key.pem"),
		ClientCertFile: filepath.Join(dir, "client-cert.pem"),
		ClientKeyFile:  filepath.Join(dir, "client-key.pem"),
	}
	brokerKeyPEM, err := keyPEM(brokerKey)
	if err != nil {
		return nil, err
	}
	clientKeyPEM, err := keyPEM(clientKey)
	if err != nil {
		return nil, err
	}
	files := map[string][]byte{
		p.CAFile:         certPEM(caDER),
		p.BrokerKeyStore: concat(brokerKeyPEM, certPEM(brokerDER), certPEM(caDER)),
		p.BrokerCertFile: certPEM(brokerDER),
		p.BrokerKeyFile:  brokerKeyPEM,
		p.ClientCertFile: certPEM(clientDER),
		p.ClientKeyFile:  clientKeyPEM,
	}
	for name, b := range files {
		if err := os.WriteFile(name, b, 0o600); err != nil {
			return nil, err
		}
	}
	return p, nil
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(fmt.Sprintf("crypto/rand: %v", err))
	}
	return n
}

func certPEM(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func keyPEM(key crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

func concat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}
