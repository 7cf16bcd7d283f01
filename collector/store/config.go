package store

import (
	"errors"
	"fmt"
	"regexp"
	"time"

	chschema "github.com/gpumeter/gpumeter/schema/clickhouse"
)

// DefaultConfig is the store's configuration before any flag: the collector's --clickhouse-* flags register their
// defaults from it, and Open fills a zero DialTimeout from it.
func DefaultConfig() Config {
	return Config{Addr: []string{"127.0.0.1:9000"}, Database: "gpumeter", User: "default", DialTimeout: 5 * time.Second}
}

var identifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// Validate reports every problem at once, each naming its flag. (Password and TLS files are read, and checked, by
// the command that fills them in.)
func (c Config) Validate() error {
	var errs []error
	if len(c.Addr) == 0 {
		errs = append(errs, errors.New("--clickhouse-addr: empty"))
	}
	if !identifier.MatchString(c.Database) {
		errs = append(errs, fmt.Errorf("--clickhouse-database: %q is not a plain identifier", c.Database))
	}
	if err := chschema.CheckCluster(c.Cluster); err != nil {
		errs = append(errs, fmt.Errorf("--clickhouse-cluster: %w", err))
	}
	if c.RawRetentionDays < 0 {
		errs = append(errs, fmt.Errorf("--raw-retention-days: must not be negative, got %d", c.RawRetentionDays))
	}
	if c.DialTimeout < 0 {
		errs = append(errs, fmt.Errorf("clickhouse dial timeout: must not be negative, got %s", c.DialTimeout))
	}
	return errors.Join(errs...)
}
