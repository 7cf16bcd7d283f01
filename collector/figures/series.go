package figures

import "time"

// Series is one commitment's cumulative committed and used amounts hour by hour, what the charts draw.
type Series struct {
	Commitment string
	Points     []SeriesPoint // one per complete hour of the term up to at, ordered by time
}

// SeriesPoint is the cumulative committed and used amounts, in the commitment's unit, at the end of the hour
// that starts at Hour.
type SeriesPoint struct {
	Hour                  time.Time
	CommittedCum, UsedCum float64
}

// cumulative makes a commitment's series from its hours (in time order) and the committed and used amounts of each.
func cumulative(id string, hours []time.Time, committed, used []float64) Series {
	s := Series{Commitment: id, Points: make([]SeriesPoint, 0, len(hours))}
	var c, u float64
	for i, h := range hours {
		c, u = c+committed[i], u+used[i]
		s.Points = append(s.Points, SeriesPoint{Hour: h.UTC(), CommittedCum: c, UsedCum: u})
	}
	return s
}
