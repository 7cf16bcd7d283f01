package main

import (
	"context"
	"fmt"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/gpumeter/gpumeter/collector/commitment"
	"github.com/gpumeter/gpumeter/collector/figures"
)

// rofrFile is the right-of-first-refusal part of a commitments file: its primary and capacity requests.
type rofrFile struct {
	primary  commitment.Primary
	requests []commitment.Request
}

// loadROFR reads the primary and requests of the commitments file at path (called once its commitments parsed, so
// their problems are not reported twice).
func loadROFR(path string) (rofrFile, error) {
	prim, reqs, err := commitment.LoadRequests(path)
	return rofrFile{prim, reqs}, err
}

// sync stores the file's primary and requests beside its commitments.
func (f rofrFile) sync(ctx context.Context, conn driver.Conn, db string) error {
	if err := commitment.SyncRequests(ctx, conn, db, f.primary, f.requests); err != nil {
		return fmt.Errorf("--commitments: load the capacity requests into clickhouse: %w", err)
	}
	return nil
}

// reportROFR is the report's right-of-first-refusal section, nil when the live file declares no primary. The price
// cards are not plugged in yet: the section's money columns read "-".
func reportROFR(ctx context.Context, conn driver.Conn, db string, at time.Time) (*figures.ROFR, error) {
	r, ok, err := figures.ROFRFigures(ctx, conn, db, at, nil)
	if err != nil || !ok {
		return nil, err
	}
	return &r, nil
}
