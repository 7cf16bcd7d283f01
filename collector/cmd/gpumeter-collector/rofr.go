package main

import (
	"context"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/gpumeter/gpumeter/collector/commitment"
	"github.com/gpumeter/gpumeter/collector/figures"
)

// reportROFR is the report's right-of-first-refusal section, nil when the live file declares no primary; its money
// is priced by the live file's price cards.
func reportROFR(ctx context.Context, conn driver.Conn, db string, at time.Time) (*figures.ROFR, error) {
	prices, err := commitment.CurrentPrices(ctx, conn, db)
	if err != nil {
		return nil, err
	}
	r, ok, err := figures.ROFRFigures(ctx, conn, db, at, prices)
	if err != nil || !ok {
		return nil, err
	}
	return &r, nil
}
