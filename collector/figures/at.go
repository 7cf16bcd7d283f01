package figures

import (
	"errors"
	"fmt"
	"time"
)

// ErrFutureAt is wrapped by CheckAt's error for a moment later than now.
var ErrFutureAt = errors.New("later than now")

// CheckAt refuses an evaluation time later than now. The figures cover the complete hours before the evaluation
// time, and the hours of a commitment's term stop at the current hour (commitment_hourly ends at now()), so figures
// "as of" a future moment would be today's figures under a later date. A report of the future is refused rather than
// silently cut at now.
func CheckAt(at, now time.Time) error {
	if at.After(now) {
		return fmt.Errorf("%s is %w (%s): figures cover only hours that have passed; leave it out to report as of now",
			at.UTC().Format(time.RFC3339), ErrFutureAt, now.UTC().Format(time.RFC3339))
	}
	return nil
}
