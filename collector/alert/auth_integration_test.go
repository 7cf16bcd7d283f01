//go:build integration

package alert

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/gpumeter/gpumeter/internal/testenv"
	"github.com/gpumeter/gpumeter/internal/testpki"
)

const (
	amUser     = "gpumeter"
	amPassword = "am-basic-secret"
)

// secureAlertmanager starts a real Alertmanager (the binary services.sh builds) of the test's own on a free port,
// with a web config that serves TLS with p's server certificate and requires basic auth, and with mtls a client
// certificate signed by p's CA too. It returns its https URL.
func secureAlertmanager(t *testing.T, p *testpki.PKI, mtls bool) string {
	t.Helper()
	bin := filepath.Join(testenv.LocalDir(t), "bin", "alertmanager")
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("no Alertmanager binary: %v; run `deploy/local/services.sh install`", err)
	}
	dir := t.TempDir()
	hash, err := bcrypt.GenerateFromPassword([]byte(amPassword), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	web := fmt.Sprintf("tls_server_config:\n  cert_file: %s\n  key_file: %s\n", p.ServerCertFile, p.ServerKeyFile)
	if mtls {
		web += "  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: " + p.CAFile + "\n"
	}
	web += fmt.Sprintf("basic_auth_users:\n  %s: %s\n", amUser, hash)
	config := "route:\n  receiver: blackhole\nreceivers:\n  - name: blackhole\n"
	for name, body := range map[string]string{"web.yml": web, "alertmanager.yml": config} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePorts(t, 1)[0])
	base := "https://" + addr
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: p.ClientTLS(t, mtls)}}
	testenv.Server(t, "alertmanager", dir, 30*time.Second, func() error {
		req, _ := http.NewRequest(http.MethodGet, base+"/-/ready", nil)
		req.SetBasicAuth(amUser, amPassword)
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return errors.New(resp.Status)
		}
		return nil
	}, bin, "--config.file="+filepath.Join(dir, "alertmanager.yml"), "--storage.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--web.config.file="+filepath.Join(dir, "web.yml"), "--cluster.listen-address=")
	return base
}

func trusting(t *testing.T, p *testpki.PKI) *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: p.ClientTLS(t, false)}}
}

// activeOn lists the active alerts of commitment on the Alertmanager at base (authenticating as amUser).
func activeOn(t *testing.T, client *http.Client, base, commitment string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+"/api/v2/alerts?active=true&filter="+
		strings.ReplaceAll(`commitment="`+commitment+`"`, `"`, "%22"), nil)
	req.SetBasicAuth(amUser, amPassword)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET alerts: %s: %s", resp.Status, b)
	}
	return bytes.Count(b, []byte(`"fingerprint"`))
}

// TestRealAlertmanagerSecured posts to two real Alertmanagers (an HA pair) that serve TLS and require basic auth,
// plus a third URL where nothing listens: both real ones get the alert, the dead one is only logged. The wrong
// password, a missing password and a CA that did not sign the servers' certificates are refused, and no error or
// log line shows the password.
func TestRealAlertmanagerSecured(t *testing.T) {
	p := testpki.New(t)
	other := testpki.New(t)
	am1, am2 := secureAlertmanager(t, p, false), secureAlertmanager(t, p, false)
	dead := fmt.Sprintf("https://127.0.0.1:%d", testenv.FreePorts(t, 1)[0])
	passwordFile := filepath.Join(t.TempDir(), "am-password")
	if err := os.WriteFile(passwordFile, []byte(amPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	urls := "--alertmanager-url=" + strings.Join([]string{am1, dead, am2}, ",")
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	checkNoSecret := func(what string) {
		if strings.Contains(what, amPassword) || strings.Contains(logs.String(), amPassword) {
			t.Errorf("the password shows: %s\nlogs:\n%s", what, logs.String())
		}
	}
	alerts := func(commitment string) []Alert {
		return []Alert{{Name: "GPUCommitmentProjectedShortfall", Labels: map[string]string{"commitment": commitment}}}
	}

	t.Run("basic auth over TLS to every peer", func(t *testing.T) {
		c, err := parseFlags(t, []string{urls, "--alertmanager-ca-file=" + p.CAFile, "--alertmanager-username=" + amUser,
			"--alertmanager-password-file=" + passwordFile}, nil, log)
		if err != nil {
			t.Fatal(err)
		}
		commitment := testenv.Name(t, "c")
		if err := c.Post(t.Context(), alerts(commitment), nil, time.Now(), time.Minute); err != nil {
			t.Fatalf("post with one of three Alertmanagers down: %v", err)
		}
		for _, base := range []string{am1, am2} {
			if n := activeOn(t, trusting(t, p), base, commitment); n != 1 {
				t.Errorf("%s holds %d alerts of %s, want 1", base, n, commitment)
			}
		}
		if !strings.Contains(logs.String(), strings.TrimPrefix(dead, "https://")) {
			t.Errorf("the dead Alertmanager's failure is not logged:\n%s", logs.String())
		}
		checkNoSecret("")
	})

	refused := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{name: "wrong password", args: []string{urls, "--alertmanager-ca-file=" + p.CAFile, "--alertmanager-username=" + amUser},
			env: map[string]string{"GPUMETER_ALERTMANAGER_PASSWORD": "not-" + amPassword}, want: "401"},
		{name: "no credentials", args: []string{urls, "--alertmanager-ca-file=" + p.CAFile}, want: "401"},
		{name: "wrong CA", args: []string{urls, "--alertmanager-ca-file=" + other.CAFile, "--alertmanager-username=" + amUser,
			"--alertmanager-password-file=" + passwordFile}, want: "certificate"},
		{name: "system CAs", args: []string{urls, "--alertmanager-username=" + amUser, "--alertmanager-password-file=" + passwordFile},
			want: "certificate"},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parseFlags(t, tt.args, tt.env, log)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
			defer cancel()
			err = c.Post(ctx, alerts(testenv.Name(t, "c")), nil, time.Now(), time.Minute)
			if err == nil {
				t.Fatal("post succeeded")
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), am1) || !strings.Contains(err.Error(), am2) {
				t.Errorf("error %q: want %q and both Alertmanagers named", err, tt.want)
			}
			checkNoSecret(err.Error())
		})
	}
}

// TestRealAlertmanagerMutualTLS: an Alertmanager that requires a client certificate takes the collector's
// (--alertmanager-cert-file, --alertmanager-key-file) and refuses a client without one.
func TestRealAlertmanagerMutualTLS(t *testing.T) {
	p := testpki.New(t)
	am := secureAlertmanager(t, p, true)
	creds := []string{"--alertmanager-url=" + am, "--alertmanager-ca-file=" + p.CAFile, "--alertmanager-username=" + amUser}
	env := map[string]string{"GPUMETER_ALERTMANAGER_PASSWORD": amPassword}
	a := []Alert{{Name: "GPUCommitmentProjectedShortfall", Labels: map[string]string{"commitment": testenv.Name(t, "c")}}}
	c, err := parseFlags(t, append(creds, "--alertmanager-cert-file="+p.ClientCertFile, "--alertmanager-key-file="+p.ClientKeyFile), env, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Post(t.Context(), a, nil, time.Now(), time.Minute); err != nil {
		t.Fatalf("post with a client certificate: %v", err)
	}
	c, err = parseFlags(t, creds, env, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Post(t.Context(), a, nil, time.Now(), time.Minute); err == nil {
		t.Fatal("post without a client certificate succeeded")
	}
}
