package consume

import (
	"errors"
	"fmt"
	"time"
)

// DefaultConfig is the consumer's configuration before any flag: the collector's flags register their defaults from
// it, and New fills zero sizes and durations from it.
func DefaultConfig() Config {
	return Config{Topic: "gpumeter.usage.v1", DLQTopic: "gpumeter.usage.dlq", Group: "gpumeter-collector",
		BatchSize: 50000, BatchWait: 2 * time.Second, FlushTimeout: 30 * time.Second}
}

// Validate reports every problem at once, each naming its flag. Conn is validated where it is built (kafkaconf).
func (c Config) Validate() error {
	var errs []error
	for _, f := range []struct{ flag, v string }{{"topic", c.Topic}, {"dlq-topic", c.DLQTopic}, {"group", c.Group}} {
		if f.v == "" {
			errs = append(errs, fmt.Errorf("--%s: empty", f.flag))
		}
	}
	if c.Topic == c.DLQTopic && c.Topic != "" {
		errs = append(errs, errors.New("--dlq-topic: must differ from --topic"))
	}
	if c.BatchSize <= 0 {
		errs = append(errs, fmt.Errorf("--batch-size: must be positive, got %d", c.BatchSize))
	}
	if c.BatchWait <= 0 {
		errs = append(errs, fmt.Errorf("--batch-wait: must be positive, got %s", c.BatchWait))
	}
	if c.FlushTimeout <= 0 {
		errs = append(errs, fmt.Errorf("--shutdown-timeout: must be positive, got %s", c.FlushTimeout))
	}
	return errors.Join(errs...)
}
