package evaluate

import (
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/gpumeter/gpumeter/internal/logging"
)

// Config says how often commitments are evaluated and where their alerts go.
type Config struct {
	Interval        time.Duration // between evaluations (--alert-interval)
	AlertmanagerURL string        // Alertmanager's base URL; empty: metrics only (--alertmanager-url)
}

// DefaultConfig is the evaluator's configuration before any flag: the collector's flags register from it.
func DefaultConfig() Config { return Config{Interval: 5 * time.Minute} }

// Validate reports every problem at once, each naming its flag.
func (c Config) Validate() error {
	var errs []error
	if c.Interval <= 0 {
		errs = append(errs, fmt.Errorf("--alert-interval: must be positive, got %s", c.Interval))
	}
	if c.AlertmanagerURL != "" {
		if u, err := url.Parse(c.AlertmanagerURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("--alertmanager-url: %q is not an http(s) URL", logging.Redact(c.AlertmanagerURL)))
		}
	}
	return errors.Join(errs...)
}
