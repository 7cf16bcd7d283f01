//go:build integration

package evaluate

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gpumeter/gpumeter/collector/commitment"
	"github.com/gpumeter/gpumeter/collector/store"
	"github.com/gpumeter/gpumeter/internal/testenv"
	"github.com/gpumeter/gpumeter/internal/teststore"
	"github.com/gpumeter/gpumeter/schema"
)

// Every commitment figure has one unit per series: GPU-seconds for capacity and usage commitments, money with its
// currency for spend ones; the fleet's last hour is exported by provider, region, GPU model and team.
func TestMetricsOneUnitPerSeries(t *testing.T) {
	ctx := t.Context()
	st := teststore.Migrated(t)
	now := time.Now().UTC()
	hour := now.Truncate(time.Hour)
	capID, spendID := testenv.Name(t, "cap"), testenv.Name(t, "spend")
	term := func(c commitment.Commitment) commitment.Commitment {
		c.Name, c.Start, c.End = c.ID, hour.Add(-4*time.Hour), hour.Add(20*time.Hour)
		return c
	}
	cs := []commitment.Commitment{
		term(commitment.Commitment{ID: capID, Provider: "azure", Kind: commitment.KindCapacity, Quantity: 2, Unit: "gpu", Team: "platform",
			CommittedPrice: 3, PriceCurrency: "USD"}),
		term(commitment.Commitment{ID: spendID, Provider: "aws", Kind: commitment.KindSpend, Quantity: 1000, Unit: "EUR", Currency: "EUR",
			Team: "inference", RateCard: []commitment.Rate{{InstanceType: "p5.48xlarge", PricePerGPUHour: 5}}}),
	}
	prices := commitment.PriceCards{{Provider: "aws", PricePerGPUHour: 6, Currency: "USD"}}
	if err := commitment.SyncFile(ctx, st.Conn(), st.Database(), commitment.File{Currency: "USD", Commitments: cs, Prices: prices}); err != nil {
		t.Fatal(err)
	}
	var rows []store.Row
	for h := 1; h <= 4; h++ {
		start := hour.Add(-time.Duration(h) * time.Hour)
		for _, r := range []struct{ provider, region, itype string }{{"azure", "eastus", "nd"}, {"aws", "us-east-1", "p5.48xlarge"}} {
			rows = append(rows, store.Row{Record: schema.Record{Version: 1, Node: "n-" + r.provider, Provider: r.provider, Region: r.region,
				InstanceType: r.itype, GPUModel: "H100", GPUUUID: fmt.Sprintf("GPU-%s-%d", r.provider, h), Team: "research",
				IntervalStart: start, IntervalEnd: start.Add(time.Hour), WindowStart: start, WindowEnd: start.Add(time.Hour),
				ProvisionedSeconds: 3600, BusySeconds: schema.Float(1800)}})
		}
	}
	if err := st.Insert(ctx, rows); err != nil {
		t.Fatal(err)
	}
	ev := New(st.Conn(), st.Database(), nil, testenv.Logger(t))
	ev.now = func() time.Time { return now }
	if err := ev.Evaluate(ctx); err != nil {
		t.Fatal(err)
	}
	b := scrapeMetrics(t, ev)
	var ours []string
	for _, l := range strings.Split(b, "\n") {
		if strings.Contains(l, capID) || strings.Contains(l, spendID) || strings.HasPrefix(l, "gpumeter_usage_last_hour") {
			ours = append(ours, l)
		}
	}
	body := strings.Join(ours, "\n")
	has := func(prefix, labels, value string) {
		t.Helper()
		for _, l := range ours {
			if strings.HasPrefix(l, prefix+"{") && strings.Contains(l, labels) && strings.HasSuffix(l, " "+value) {
				return
			}
		}
		t.Errorf("no %s{…%s…} %s in:\n%s", prefix, labels, value, body)
	}
	// Capacity: 1 of 2 GPUs for 4 hours: 4 of 8 GPU-hours, in GPU-seconds.
	has("gpumeter_commitment_committed_to_date_gpu_time_seconds", `commitment="`+capID+`"`, "28800")
	has("gpumeter_commitment_used_to_date_gpu_time_seconds", `commitment="`+capID+`"`, "14400")
	// Spend: 4 GPU-hours at 5 EUR.
	has("gpumeter_commitment_used_to_date_cost", `currency="EUR"`, "20")
	has("gpumeter_commitment_projected_shortfall_cost", `commitment="`+spendID+`"`, "880")
	// 48 − 4 GPU-hours left over the 20 hours to go: 2.2 GPUs.
	has("gpumeter_commitment_required_rate_gpus", `commitment="`+capID+`"`, "2.2")
	// Money at the file's prices, in their currency: the reservation's 4 unused GPU-hours at 3 USD; nothing
	// overflowed.
	has("gpumeter_commitment_unused_value_cost", `commitment="`+capID+`",currency="USD"`, "12")
	has("gpumeter_commitment_overflow_cost", `commitment="`+capID+`",currency="USD"`, "0")
	has("gpumeter_usage_last_hour_gpu_time_seconds", `provider="aws"`, "3600")
	has("gpumeter_usage_last_hour_busy_gpu_time_seconds", `provider="azure"`, "1800")
	for _, l := range ours {
		if strings.Contains(l, "_gpu_time_seconds{") && strings.Contains(l, spendID) && !strings.Contains(l, "overflow") && !strings.Contains(l, "leakage") {
			t.Errorf("a spend commitment in a GPU-time series: %s", l)
		}
		if strings.Contains(l, "_cost") && strings.Contains(l, capID) && !strings.Contains(l, "unused_value") &&
			!strings.Contains(l, "overflow") && !strings.Contains(l, "leakage") {
			t.Errorf("a capacity commitment in a money series: %s", l)
		}
		if strings.Contains(l, "_cost") && !strings.Contains(l, "currency=") {
			t.Errorf("money without a currency: %s", l)
		}
	}
}
