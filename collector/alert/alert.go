// Package alert sends gpumeter's alerts (commitment shortfalls and the like) to Prometheus
// Alertmanager through its v2 HTTP API (POST /api/v2/alerts, plain JSON), and keeps track of what
// it fired so that alerts which stop being active are resolved.
//
// Alertmanager identifies an alert by its label set (alertname included); annotations are not part
// of the identity. A firing alert is posted with endsAt = now + 3×the evaluation interval, so that
// Alertmanager resolves it by itself when the collector stops re-posting it (collector down); a
// resolved alert is posted with endsAt = now.
package alert

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gpumeter/gpumeter/internal/logging"
)

// Alert is one alert as gpumeter sends it.
type Alert struct {
	Name        string            // alertname label, e.g. GPUCommitmentProjectedShortfall
	Labels      map[string]string // routing labels: commitment, provider, team, severity, ...
	Annotations map[string]string // summary, description, figures as text
}

// AlertNameLabel is the label that carries Alert.Name; Name overrides a Labels entry of that name.
const AlertNameLabel = "alertname"

// TTLFactor is how many evaluation intervals a firing alert stays active in Alertmanager
// without being posted again.
const TTLFactor = 3

// labelName is the classic Prometheus label-name syntax: Alertmanager 0.25 (Debian) accepts no
// other, and newer releases accept it too.
var labelName = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

// labelSet is the alert's identity as Alertmanager sees it: Labels plus alertname=Name, without
// empty values (Alertmanager, like Prometheus, treats an empty label as an absent one).
func (a Alert) labelSet() (map[string]string, error) {
	if a.Name == "" {
		return nil, errors.New("alert without a name")
	}
	ls := make(map[string]string, len(a.Labels)+1)
	for k, v := range a.Labels {
		if !labelName.MatchString(k) {
			return nil, fmt.Errorf("alert %s: invalid label name %q", a.Name, k)
		}
		if v != "" {
			ls[k] = v
		}
	}
	ls[AlertNameLabel] = a.Name
	return ls, nil
}

// key is a canonical string form of a label set.
func key(ls map[string]string) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(ls)) {
		fmt.Fprintf(&b, "%s=%q,", k, ls[k])
	}
	return b.String()
}

// postable is one element of the body of POST /api/v2/alerts (Alertmanager's postableAlert).
type postable struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL,omitempty"`
}

// Client talks to Alertmanager: to every one of URLs, as Prometheus does with an HA cluster's peers (they gossip,
// so each alert needs to reach only one, but any may be down).
type Client struct {
	// URLs are base URLs, like http://127.0.0.1:19094 (a path prefix is kept: http://host/alertmanager).
	URLs []string
	HTTP *http.Client // nil: a client with a 10 s timeout per request
	Log  *slog.Logger // nil: slog.Default()
	Auth Auth

	// GeneratorURL, when set, is sent with every alert (Alertmanager links it as the alert's source).
	GeneratorURL string
}

// Auth is how requests authenticate: basic auth, or a bearer token read from a file on every request (so a rotated
// token, such as a Kubernetes projected service-account token, is picked up). At most one of the two.
type Auth struct {
	Username, Password string
	BearerTokenFile    string
}

func (a Auth) apply(req *http.Request) error {
	if a.Username != "" {
		req.SetBasicAuth(a.Username, a.Password)
	}
	if a.BearerTokenFile != "" {
		b, err := os.ReadFile(a.BearerTokenFile)
		if err != nil {
			return fmt.Errorf("bearer token: %w", err)
		}
		token := strings.TrimSpace(string(b))
		if token == "" {
			return fmt.Errorf("bearer token: %s is empty", a.BearerTokenFile)
		}
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return nil
}

// Targets is the URLs as logs may show them (no password).
func (c *Client) Targets() []string {
	if c == nil {
		return nil
	}
	out := make([]string, len(c.URLs))
	for i, u := range c.URLs {
		out[i] = logging.Redact(u)
	}
	return out
}

var defaultHTTP = &http.Client{Timeout: 10 * time.Second}

func (c *Client) httpClient() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return defaultHTTP
}

func (c *Client) logger() *slog.Logger {
	if c.Log != nil {
		return c.Log
	}
	return slog.Default()
}

// Post sends alerts to POST {URL}/api/v2/alerts in one request: firing ones with startsAt = now
// and endsAt = now + 3×ttl (ttl is the evaluation interval; Alertmanager keeps the earliest startsAt
// of an alert that is still active), resolved ones with endsAt = now. It makes one attempt; see
// Notifier for retries. An alert with an invalid label name is left out and reported in the
// error, the others are still sent.
func (c *Client) Post(ctx context.Context, firing []Alert, resolved []Alert, now time.Time, ttl time.Duration) error {
	var body []postable
	var errs []error
	for _, a := range firing {
		p, err := c.postable(a, now, now.Add(TTLFactor*ttl))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		body = append(body, p)
	}
	for _, a := range resolved {
		p, err := c.postable(a, now, now)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		body = append(body, p)
	}
	if len(body) > 0 {
		errs = append(errs, c.post(ctx, body))
	}
	return errors.Join(errs...)
}

func (c *Client) postable(a Alert, startsAt, endsAt time.Time) (postable, error) {
	ls, err := a.labelSet()
	if err != nil {
		return postable{}, err
	}
	return postable{Labels: ls, Annotations: a.Annotations, StartsAt: startsAt.UTC(), EndsAt: endsAt.UTC(),
		GeneratorURL: c.GeneratorURL}, nil
}

// StatusError is a non-2xx answer from Alertmanager.
type StatusError struct {
	Code int
	Body string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("alertmanager answered %d: %s", e.Code, e.Body)
}

// permanent reports whether retrying cannot help: Alertmanager rejected the request itself
// (400: invalid alerts, which it reports after accepting the valid ones).
func permanent(err error) bool {
	var se *StatusError
	return errors.As(err, &se) && se.Code >= 400 && se.Code < 500 && se.Code != http.StatusRequestTimeout &&
		se.Code != http.StatusTooManyRequests
}

// post makes one POST /api/v2/alerts to each Alertmanager, concurrently. It succeeds when at least one accepted the
// alerts (the peers share them by gossip); the others' failures are logged. When all fail it returns their errors,
// each naming its Alertmanager without a password.
func (c *Client) post(ctx context.Context, body []postable) error {
	b, err := json.Marshal(body)
	if err != nil {
		return fmt.Errorf("encode alerts: %w", err)
	}
	if len(c.URLs) == 0 {
		return errors.New("no alertmanager URL")
	}
	errs := make([]error, len(c.URLs))
	var wg sync.WaitGroup
	for i, u := range c.URLs {
		wg.Go(func() {
			if err := c.postOne(ctx, u, b, len(body)); err != nil {
				errs[i] = fmt.Errorf("alertmanager %s: %w", logging.Redact(u), err)
			}
		})
	}
	wg.Wait()
	var failed []error
	for _, err := range errs {
		if err != nil {
			failed = append(failed, err)
		}
	}
	if len(failed) == len(c.URLs) {
		return errors.Join(failed...)
	}
	for _, err := range failed {
		c.logger().Warn("one alertmanager did not take the alerts; the others did", "err", err)
	}
	return nil
}

func (c *Client) postOne(ctx context.Context, base string, b []byte, n int) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(base, "/")+"/api/v2/alerts", bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("alertmanager request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	if err := c.Auth.apply(req); err != nil {
		return err
	}
	resp, err := c.httpClient().Do(req) // net/http leaves a URL's password out of its errors
	if err != nil {
		var uerr *url.Error // names the URL; net/http hides only the password
		if errors.As(err, &uerr) {
			uerr.URL = logging.Redact(uerr.URL)
		}
		return fmt.Errorf("post %d alerts: %w", n, err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode/100 != 2 {
		return &StatusError{Code: resp.StatusCode, Body: strings.TrimSpace(string(msg))}
	}
	return nil
}
