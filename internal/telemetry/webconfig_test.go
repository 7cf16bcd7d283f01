package telemetry

import (
	"context"
	"crypto/tls"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/gpumeter/gpumeter/internal/testpki"
)

// webConfig writes an exporter-toolkit web config file (the node_exporter format) into a temporary directory.
func webConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "web-config.yml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func tlsClient(cfg *tls.Config) *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg, DisableKeepAlives: true}}
}

// TestWebConfig serves /metrics, /healthz and /readyz behind the web config file and checks that only a client
// presenting what the file asks for gets through: the right basic-auth user and password, over TLS verified
// against the CA, with a client certificate where the file requires one.
func TestWebConfig(t *testing.T) {
	p := testpki.New(t)
	other := testpki.New(t)
	hash, err := bcrypt.GenerateFromPassword([]byte("scrape-secret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	users := "basic_auth_users:\n  prometheus: " + string(hash) + "\n"
	type try struct {
		name   string
		client *http.Client
		user   string
		pass   string
		want   int // 0: the connection itself must fail
	}
	plain := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	tests := []struct {
		name    string
		config  string
		scheme  string
		clients []try
	}{
		{name: "basic auth", config: users, scheme: "http", clients: []try{
			{name: "right password", client: plain, user: "prometheus", pass: "scrape-secret", want: 200},
			{name: "wrong password", client: plain, user: "prometheus", pass: "nope", want: 401},
			{name: "unknown user", client: plain, user: "grafana", pass: "scrape-secret", want: 401},
			{name: "no credentials", client: plain, want: 401},
		}},
		{name: "TLS and basic auth", config: "tls_server_config:\n  cert_file: " + p.ServerCertFile + "\n  key_file: " +
			p.ServerKeyFile + "\n" + users, scheme: "https", clients: []try{
			{name: "right CA and password", client: tlsClient(p.ClientTLS(t, false)), user: "prometheus", pass: "scrape-secret", want: 200},
			{name: "right CA, no password", client: tlsClient(p.ClientTLS(t, false)), want: 401},
			{name: "wrong CA", client: tlsClient(other.ClientTLS(t, false)), user: "prometheus", pass: "scrape-secret"},
		}},
		{name: "mutual TLS", config: "tls_server_config:\n  cert_file: " + p.ServerCertFile + "\n  key_file: " +
			p.ServerKeyFile + "\n  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: " + p.CAFile + "\n",
			scheme: "https", clients: []try{
				{name: "client certificate", client: tlsClient(p.ClientTLS(t, true)), want: 200},
				{name: "no client certificate", client: tlsClient(p.ClientTLS(t, false))},
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tel := start(t, Config{WebConfigFile: webConfig(t, tt.config)})
			for _, c := range tt.clients {
				for _, path := range []string{"/metrics", "/healthz", "/readyz"} {
					req, err := http.NewRequest(http.MethodGet, tt.scheme+"://"+tel.Addr()+path, nil)
					if err != nil {
						t.Fatal(err)
					}
					if c.user != "" {
						req.SetBasicAuth(c.user, c.pass)
					}
					resp, err := c.client.Do(req)
					if c.want == 0 {
						if err == nil {
							resp.Body.Close()
							t.Errorf("%s: GET %s answered %d, want the connection refused", c.name, path, resp.StatusCode)
						}
						continue
					}
					if err != nil {
						t.Errorf("%s: GET %s: %v", c.name, path, err)
						continue
					}
					resp.Body.Close()
					if resp.StatusCode != c.want {
						t.Errorf("%s: GET %s answered %d, want %d", c.name, path, resp.StatusCode, c.want)
					}
				}
			}
		})
	}
}

// TestWebConfigRejected: a web config file that cannot be used stops Start with an error naming the flag.
func TestWebConfigRejected(t *testing.T) {
	for name, cfg := range map[string]Config{
		"missing file":      {MetricsAddr: "127.0.0.1:0", WebConfigFile: filepath.Join(t.TempDir(), "missing.yml")},
		"not yaml":          {MetricsAddr: "127.0.0.1:0", WebConfigFile: webConfig(t, "tls_server_config: [\n")},
		"unknown key":       {MetricsAddr: "127.0.0.1:0", WebConfigFile: webConfig(t, "basic_auth: {}\n")},
		"cert without key":  {MetricsAddr: "127.0.0.1:0", WebConfigFile: webConfig(t, "tls_server_config:\n  cert_file: /nonexistent.pem\n")},
		"no metrics server": {WebConfigFile: webConfig(t, "basic_auth_users: {}\n")},
	} {
		t.Run(name, func(t *testing.T) {
			tel, err := Start(context.Background(), cfg, nil)
			if err == nil {
				_ = tel.Shutdown(context.Background())
				t.Fatal("Start accepted it")
			}
			if !strings.Contains(err.Error(), "--web-config-file") {
				t.Errorf("error %q does not name --web-config-file", err)
			}
		})
	}
}
