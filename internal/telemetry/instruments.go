package telemetry

import (
	"context"
	"errors"
	"fmt"

	"go.opentelemetry.io/otel/metric"
)

// Counter registers an observable (asynchronous) Int64 counter on m that
// reports load() at each collection: a running total the caller already keeps,
// such as stats.Inserted.Load. load must be cheap, safe for concurrent use and
// never decrease. Exposed in Prometheus with a "_total" suffix (see the package
// doc for the naming rule).
func Counter(m metric.Meter, name, unit, desc string, load func() int64) error {
	if load == nil {
		return fmt.Errorf("telemetry: counter %q: %w", name, errNilLoad)
	}
	_, err := m.Int64ObservableCounter(name,
		metric.WithUnit(unit),
		metric.WithDescription(desc),
		metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
			o.Observe(load())
			return nil
		}),
	)
	if err != nil {
		return fmt.Errorf("telemetry: counter %q: %w", name, err)
	}
	return nil
}

// Gauge registers an observable Int64 gauge on m that reports load() at each
// collection: a current value such as a queue length.
func Gauge(m metric.Meter, name, unit, desc string, load func() int64) error {
	if load == nil {
		return fmt.Errorf("telemetry: gauge %q: %w", name, errNilLoad)
	}
	_, err := m.Int64ObservableGauge(name,
		metric.WithUnit(unit),
		metric.WithDescription(desc),
		metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
			o.Observe(load())
			return nil
		}),
	)
	if err != nil {
		return fmt.Errorf("telemetry: gauge %q: %w", name, err)
	}
	return nil
}

// GaugeFloat registers an observable Float64 gauge on m that reports load() at
// each collection.
func GaugeFloat(m metric.Meter, name, unit, desc string, load func() float64) error {
	if load == nil {
		return fmt.Errorf("telemetry: gauge %q: %w", name, errNilLoad)
	}
	_, err := m.Float64ObservableGauge(name,
		metric.WithUnit(unit),
		metric.WithDescription(desc),
		metric.WithFloat64Callback(func(_ context.Context, o metric.Float64Observer) error {
			o.Observe(load())
			return nil
		}),
	)
	if err != nil {
		return fmt.Errorf("telemetry: gauge %q: %w", name, err)
	}
	return nil
}

var errNilLoad = errors.New("nil load function")
