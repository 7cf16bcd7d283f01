package clickhouse

import (
	"fmt"
	"strconv"
	"strings"
)

// Features are the server capabilities the schema uses when they exist. This is the one place that branches on the
// ClickHouse version; the README's table of what each version gets is written from it.
type Features struct {
	Version string // as the server reports it, e.g. "18.16.1" or "24.8.4.13"
	// LowCardinality dictionary-encodes repetitive strings (provider, region, model...). Experimental before 19.x.
	LowCardinality bool
	// TTL lets raw rows expire (--raw-retention-days). Arrived in 19.6.
	TTL bool
	// SQLAccess is SQL access control (CREATE ROLE, GRANT), where gpumeter's roles come from RoleStatements. Arrived
	// in 20.5; before, users and their rights live in users.xml only (readonly and allow_ddl profiles,
	// allow_databases), as deploy/local/clickhouse/users.xml declares them.
	SQLAccess bool
	// AddColumnIfNotExists is ALTER TABLE … ADD COLUMN IF NOT EXISTS, which 18.16 lacks; without it a migration
	// renders a plain ADD COLUMN, which the migrator treats as applied when the column exists (PlainAddColumn). The
	// threshold is conservative: older servers take the plain form, which works everywhere.
	AddColumnIfNotExists bool
}

// FeaturesFor derives Features from a server version string.
func FeaturesFor(version string) (Features, error) {
	major, minor, err := parseVersion(version)
	if err != nil {
		return Features{}, err
	}
	atLeast := func(ma, mi int) bool { return major > ma || (major == ma && minor >= mi) }
	return Features{
		Version:              version,
		LowCardinality:       atLeast(19, 9),
		TTL:                  atLeast(19, 6),
		SQLAccess:            atLeast(20, 5),
		AddColumnIfNotExists: atLeast(20, 1),
	}, nil
}

func parseVersion(v string) (major, minor int, err error) {
	parts := strings.SplitN(v, ".", 3)
	if len(parts) < 2 {
		return 0, 0, fmt.Errorf("clickhouse version %q: want MAJOR.MINOR[...]", v)
	}
	if major, err = strconv.Atoi(parts[0]); err != nil {
		return 0, 0, fmt.Errorf("clickhouse version %q: %w", v, err)
	}
	if minor, err = strconv.Atoi(parts[1]); err != nil {
		return 0, 0, fmt.Errorf("clickhouse version %q: %w", v, err)
	}
	return major, minor, nil
}

func (f Features) lowCardinality(typ string) string {
	if f.LowCardinality {
		return "LowCardinality(" + typ + ")"
	}
	return typ
}
