package evaluate

import (
	"errors"
	"fmt"
	"time"
)

// Config says how often commitments are evaluated. Where their alerts go is alert.Flags' (several Alertmanagers,
// their authentication and TLS).
type Config struct {
	Interval time.Duration // between evaluations (--alert-interval)
}

// DefaultConfig is the evaluator's configuration before any flag: the collector's flags register from it.
func DefaultConfig() Config { return Config{Interval: 5 * time.Minute} }

// Validate reports every problem at once, each naming its flag.
func (c Config) Validate() error {
	var errs []error
	if c.Interval <= 0 {
		errs = append(errs, fmt.Errorf("--alert-interval: must be positive, got %s", c.Interval))
	}
	return errors.Join(errs...)
}
