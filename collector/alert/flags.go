package alert

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/gpumeter/gpumeter/internal/credentials"
	"github.com/gpumeter/gpumeter/internal/flagenv"
	"github.com/gpumeter/gpumeter/internal/logging"
)

// Flags are the collector's Alertmanager settings: where (one URL or an HA cluster's several), how to authenticate
// (basic auth or a bearer token file) and which CA to trust over https. Register them, parse, then call Client.
type Flags struct {
	URLs            flagenv.List
	Username        string
	Password        string
	PasswordFile    string
	BearerTokenFile string
	CAFile          string
	CertFile        string
	KeyFile         string
	ServerName      string
}

// Register adds the flags. The password has no default, so --help cannot show it.
func (f *Flags) Register(fs *flag.FlagSet) {
	fs.Var(&f.URLs, "alertmanager-url", "Alertmanager base URLs, comma-separated (an HA cluster's peers: alerts go to all), e.g. http://alertmanager:9093; empty: metrics only")
	fs.StringVar(&f.Username, "alertmanager-username", "", "basic-auth user for Alertmanager")
	fs.StringVar(&f.Password, "alertmanager-password", "", "basic-auth password; prefer GPUMETER_ALERTMANAGER_PASSWORD or --alertmanager-password-file")
	fs.StringVar(&f.PasswordFile, "alertmanager-password-file", "", "file holding the basic-auth password")
	fs.StringVar(&f.BearerTokenFile, "alertmanager-bearer-token-file", "", "file holding a bearer token, read again for every request")
	fs.StringVar(&f.CAFile, "alertmanager-ca-file", "", "PEM file of CAs that sign the https Alertmanagers' certificates (default: the system's)")
	fs.StringVar(&f.CertFile, "alertmanager-cert-file", "", "PEM client certificate for mutual TLS")
	fs.StringVar(&f.KeyFile, "alertmanager-key-file", "", "PEM client key for mutual TLS")
	fs.StringVar(&f.ServerName, "alertmanager-tls-server-name", "", "name to verify in the Alertmanagers' certificates (default: the host dialled)")
}

// Client validates the flags and builds the client; nil (and no error) when no URL is given. Every problem is
// reported, each naming its flag; no error shows a password.
func (f *Flags) Client(log *slog.Logger) (*Client, error) {
	var errs []error
	https := false
	for _, u := range f.URLs {
		p, err := url.Parse(u)
		if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			errs = append(errs, fmt.Errorf("--alertmanager-url: %q is not an http(s) URL", logging.Redact(u)))
			continue
		}
		if p.User != nil {
			errs = append(errs, fmt.Errorf("--alertmanager-url: %q holds credentials; use --alertmanager-username and --alertmanager-password-file", logging.Redact(u)))
		}
		https = https || p.Scheme == "https"
	}
	auth := Auth{Username: f.Username, BearerTokenFile: f.BearerTokenFile}
	password, err := credentials.Password("alertmanager", f.Password, f.PasswordFile)
	if err != nil {
		errs = append(errs, err)
	}
	auth.Password = password
	switch {
	case f.Username != "" && f.BearerTokenFile != "":
		errs = append(errs, errors.New("--alertmanager-username and --alertmanager-bearer-token-file: give one, not both"))
	case f.Username == "" && password != "":
		errs = append(errs, errors.New("--alertmanager-password: given without --alertmanager-username"))
	case f.Username != "" && password == "":
		errs = append(errs, errors.New("--alertmanager-username: needs a password (GPUMETER_ALERTMANAGER_PASSWORD or --alertmanager-password-file)"))
	}
	if f.BearerTokenFile != "" {
		probe := &http.Request{Header: http.Header{}}
		if err := auth.apply(probe); err != nil {
			errs = append(errs, fmt.Errorf("--alertmanager-bearer-token-file: %w", err))
		}
	}
	tlsSet := f.CAFile != "" || f.CertFile != "" || f.KeyFile != "" || f.ServerName != ""
	if tlsSet && !https {
		errs = append(errs, errors.New("--alertmanager-ca-file/-cert-file/-key-file/-tls-server-name: no --alertmanager-url is https"))
	}
	tlsCfg, err := credentials.TLS{Prefix: "alertmanager", Enabled: https, CAFile: f.CAFile, CertFile: f.CertFile,
		KeyFile: f.KeyFile, ServerName: f.ServerName}.Config()
	if err != nil && https {
		errs = append(errs, err)
	}
	if len(f.URLs) == 0 && (f.Username != "" || f.BearerTokenFile != "" || tlsSet) {
		errs = append(errs, errors.New("--alertmanager-url: empty, but Alertmanager credentials or TLS files are given"))
	}
	if err := errors.Join(errs...); err != nil || len(f.URLs) == 0 {
		return nil, err
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.TLSClientConfig = tlsCfg
	return &Client{URLs: f.URLs, Log: log, Auth: auth,
		HTTP: &http.Client{Timeout: 10 * time.Second, Transport: transport}}, nil
}
