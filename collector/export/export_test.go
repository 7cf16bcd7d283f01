//go:build integration

package export

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gpumeter/gpumeter/collector/commitment"
	"github.com/gpumeter/gpumeter/collector/store"
	"github.com/gpumeter/gpumeter/internal/teststore"
	"github.com/gpumeter/gpumeter/schema"
	chschema "github.com/gpumeter/gpumeter/schema/clickhouse"
)

func near(a, b float64) bool { return math.Abs(a-b) < 1e-6 }

// gpuHours makes n one-hour records (n GPU-hours, half of each busy unless busyUnknown) for hour h.
func gpuHours(provider, region, itype, team string, h, n int, tag string, busyUnknown bool) []store.Row {
	var out []store.Row
	for i := range n {
		r := schema.Record{Version: 1, Node: provider + "-" + region + "-" + tag, Provider: provider, Region: region,
			InstanceType: itype, Account: "acct-" + provider, GPUModel: "NVIDIA H100 80GB HBM3",
			GPUUUID: fmt.Sprintf("GPU-%s-%d", tag, i), Team: team,
			IntervalStart: at(h), IntervalEnd: at(h + 1), WindowStart: at(h), WindowEnd: at(h + 1),
			ProvisionedSeconds: 3600, AllocatedSeconds: 3600, EnergyJoules: schema.Float(1.8e6)}
		if team == "" {
			r.AllocatedSeconds = 0
		} else {
			r.Namespace, r.Pod = team, "pod-"+tag
		}
		if !busyUnknown {
			r.BusySeconds = schema.Float(1800)
		}
		out = append(out, store.Row{Record: r})
	}
	return out
}

// export runs FOCUS in both formats and returns the CSV records (header first) and the JSON lines, decoded.
func export(t *testing.T, st *store.Store, opt Options) (csvRecs [][]string, lines []map[string]any) {
	t.Helper()
	ctx := t.Context()
	var cbuf, jbuf bytes.Buffer
	opt.Format = FormatCSV
	n, err := FOCUS(ctx, st.Conn(), st.Database(), opt, &cbuf)
	if err != nil {
		t.Fatal(err)
	}
	opt.Format = FormatJSONL
	m, err := FOCUS(ctx, st.Conn(), st.Database(), opt, &jbuf)
	if err != nil {
		t.Fatal(err)
	}
	csvRecs, err = csv.NewReader(&cbuf).ReadAll()
	if err != nil {
		t.Fatalf("CSV does not parse: %v", err)
	}
	for i, line := range strings.Split(strings.TrimSuffix(jbuf.String(), "\n"), "\n") {
		if line == "" {
			continue
		}
		dec := json.NewDecoder(strings.NewReader(line))
		dec.UseNumber()
		var obj map[string]any
		if err := dec.Decode(&obj); err != nil {
			t.Fatalf("JSON line %d does not parse: %v: %s", i+1, err, line)
		}
		lines = append(lines, obj)
	}
	if n != len(csvRecs)-1 || m != len(lines) {
		t.Fatalf("FOCUS reported %d CSV rows and %d JSON rows; wrote %d and %d", n, m, len(csvRecs)-1, len(lines))
	}
	return csvRecs, lines
}

type focusRow map[string]string

func (r focusRow) num(t *testing.T, col string) float64 {
	t.Helper()
	if r[col] == "" {
		return 0
	}
	v, err := strconv.ParseFloat(r[col], 64)
	if err != nil {
		t.Fatalf("%s = %q is not a number", col, r[col])
	}
	return v
}

// loadScenario stores the hand-made scenario: an Azure reservation, an AWS spend commitment (and extra commitments),
// and usage in and out of their scope over hours 0..5, with rows before and after.
func loadScenario(t *testing.T, extra ...commitment.Commitment) *store.Store {
	t.Helper()
	ctx := t.Context()
	st := teststore.Migrated(t)
	cs := []commitment.Commitment{
		{ID: "cap-east", Name: "Azure East reservation", Provider: "azure", Scope: commitment.Scope{Region: "eastus"},
			Kind: commitment.KindCapacity, Quantity: 4, Unit: commitment.UnitGPU, Start: at(0), End: at(6),
			Team: "research", Labels: map[string]string{"cost_center": "ml-42"}, Alerts: commitment.DefaultThresholds},
		{ID: "spend-aws", Name: "AWS commit", Provider: "aws", Kind: commitment.KindSpend, Quantity: 1000, Unit: "USD",
			Currency: "USD", Start: at(0), End: at(6), RateCard: []commitment.Rate{{InstanceType: "p5.48xlarge", PricePerGPUHour: 10}},
			Alerts: commitment.DefaultThresholds},
	}
	if err := commitment.Sync(ctx, st.Conn(), st.Database(), append(cs, extra...)); err != nil {
		t.Fatal(err)
	}
	for _, b := range [][]store.Row{
		gpuHours("azure", "eastus", "nd", "research", -1, 2, "before", false), // before From
		gpuHours("azure", "eastus", "nd", "research", 0, 2, "a0", false),
		gpuHours("azure", "eastus", "nd", "research", 1, 3, "a1r", false), // hour 1: 6 GPUs against 4 reserved
		gpuHours("azure", "eastus", "nd", "infra", 1, 3, "a1i", false),
		gpuHours("azure", "westus", "nd", "research", 2, 5, "w2", false),                 // azure, outside the reservation's region
		gpuHours("oracle_cloud", "us-ashburn-1", "BM.GPU.H100.8", "", 2, 3, "o2", false), // overflow, while 4 are idle
		gpuHours("aws", "us-east-1", "p5.48xlarge", "research", 3, 2, "p3", false),       // priced by the rate card
		gpuHours("aws", "us-east-1", "g5.xlarge", "research", 3, 1, "g3", false),         // not on the rate card
		gpuHours("azure", "eastus", "nd", "research", 3, 4, "a3", false),
		gpuHours("azure", "eastus", "nd", "research", 5, 1, "a5", true),     // utilization unknown
		gpuHours("azure", "eastus", "nd", "research", 6, 3, "after", false), // at To: excluded
	} {
		if err := st.Insert(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	return st
}

func TestFOCUSScenario(t *testing.T) {
	ctx := t.Context()
	st := loadScenario(t)
	recs, lines := export(t, st, Options{From: at(0), To: at(6)})

	// The header is the column list of FOCUS 1.2, the default.
	columns := Columns(Version12, DatasetCostAndUsage)
	if !slices.Equal(recs[0], columns) {
		t.Fatalf("CSV header %v, want %v", recs[0], columns)
	}
	rows := make([]focusRow, len(recs)-1)
	for i, rec := range recs[1:] {
		if len(rec) != len(recs[0]) {
			t.Fatalf("row %d has %d fields, want %d", i+1, len(rec), len(recs[0]))
		}
		rows[i] = focusRow{}
		for j, col := range recs[0] {
			rows[i][col] = rec[j]
		}
	}

	// CSV and JSON lines carry the same rows; JSON numbers are numbers, JSON nulls are empty CSV fields.
	if len(lines) != len(rows) {
		t.Fatalf("%d JSON lines, %d CSV rows", len(lines), len(rows))
	}
	isNum := numeric
	for i, obj := range lines {
		if len(obj) != len(columns) {
			t.Errorf("JSON line %d has %d keys, want %d", i+1, len(obj), len(columns))
		}
		for _, col := range columns {
			v, ok := obj[col]
			if !ok {
				t.Errorf("JSON line %d lacks %s", i+1, col)
				continue
			}
			var s string
			switch v := v.(type) {
			case nil:
			case json.Number:
				if !isNum[col] {
					t.Errorf("JSON line %d: %s is a number, want a string", i+1, col)
				}
				s = v.String()
			case string:
				if isNum[col] {
					t.Errorf("JSON line %d: %s is a string %q, want a number", i+1, col, v)
				}
				if v == "" {
					t.Errorf("JSON line %d: %s is an empty string, want null", i+1, col)
				}
				s = v
			default:
				t.Errorf("JSON line %d: %s has type %T", i+1, col, v)
			}
			if s != rows[i][col] {
				t.Errorf("row %d %s: JSON %q, CSV %q", i+1, col, s, rows[i][col])
			}
		}
	}

	// Rows come by hour, inside [From, To), each an hour long.
	for i, r := range rows {
		start, err1 := time.Parse(time.RFC3339, r["ChargePeriodStart"])
		end, err2 := time.Parse(time.RFC3339, r["ChargePeriodEnd"])
		if err1 != nil || err2 != nil || !strings.HasSuffix(r["ChargePeriodStart"], "Z") {
			t.Fatalf("row %d: charge period %q..%q is not RFC 3339 UTC", i+1, r["ChargePeriodStart"], r["ChargePeriodEnd"])
		}
		if start.Before(at(0)) || !start.Before(at(6)) || end.Sub(start) != time.Hour {
			t.Errorf("row %d: charge period %s..%s outside [%s, %s) or not an hour", i+1, start, end, at(0), at(6))
		}
		if i > 0 && r["ChargePeriodStart"] < rows[i-1]["ChargePeriodStart"] {
			t.Errorf("row %d: %s comes after %s", i+1, r["ChargePeriodStart"], rows[i-1]["ChargePeriodStart"])
		}
		if r["ChargeCategory"] != "Usage" || r["ServiceCategory"] != "Compute" || r["ChargeClass"] != "" {
			t.Errorf("row %d: ChargeCategory %q ServiceCategory %q ChargeClass %q", i+1, r["ChargeCategory"], r["ServiceCategory"], r["ChargeClass"])
		}
		// The mandatory columns that used to be empty: a billing account (the provider's stand-in, none given) and
		// the calendar month; a pricing category on every Usage row.
		provider := map[string]string{"Microsoft Azure": "azure", "Amazon Web Services": "aws", "Oracle Cloud Infrastructure": "oracle_cloud"}[r["ProviderName"]]
		if r["BillingAccountId"] != provider || r["BillingAccountName"] != provider || provider == "" ||
			r["BillingPeriodStart"] != "2024-03-01T00:00:00Z" || r["BillingPeriodEnd"] != "2024-04-01T00:00:00Z" ||
			r["PricingCategory"] == "" || r["SkuMeter"] != skuMeter {
			t.Errorf("row %d: billing account %q/%q, period %q..%q, PricingCategory %q, SkuMeter %q", i+1, r["BillingAccountId"],
				r["BillingAccountName"], r["BillingPeriodStart"], r["BillingPeriodEnd"], r["PricingCategory"], r["SkuMeter"])
		}
		if r["Tags"] != "" {
			var tags map[string]any
			if err := json.Unmarshal([]byte(r["Tags"]), &tags); err != nil {
				t.Errorf("row %d: Tags %q is not a JSON object: %v", i+1, r["Tags"], err)
			}
		}
	}

	var usage, unused []focusRow
	for _, r := range rows {
		if r["CommitmentDiscountStatus"] == "Unused" {
			unused = append(unused, r)
		} else {
			usage = append(usage, r)
		}
	}

	// Usage rows' GPU-hours add up to gpu_usage_hourly's for the same hours.
	var want float64
	q := fmt.Sprintf("SELECT sum(provisioned_gpu_hours) FROM %s.gpu_usage_hourly WHERE hour >= %s AND hour < %s",
		st.Database(), chschema.DateTime(at(0)), chschema.DateTime(at(6)))
	if err := st.Conn().QueryRow(ctx, q).Scan(&want); err != nil {
		t.Fatal(err)
	}
	var got float64
	for _, r := range usage {
		got += r.num(t, "ConsumedQuantity")
		if r["ConsumedUnit"] != "GPU-Hours" || r["ResourceType"] != "GPU" || r["PricingQuantity"] != r["ConsumedQuantity"] {
			t.Errorf("usage row %v: unit, type or pricing quantity wrong", r)
		}
		provider := strings.TrimPrefix(r["SubAccountId"], "acct-") // the scenario's accounts are acct-<provider>
		if wantID := strings.Join([]string{provider, r["SubAccountId"], r["RegionId"], r["SkuId"]}, "/"); r["ResourceId"] != wantID {
			t.Errorf("usage row ResourceId %q, want %q", r["ResourceId"], wantID)
		}
	}
	if !near(got, want) || !near(want, 24) {
		t.Errorf("usage rows hold %g GPU-hours, gpu_usage_hourly %g, scenario 24", got, want)
	}

	// The reservation: used + unused = 4 GPUs every hour; an Unused row exactly where GPUs sat idle.
	capUsed := map[string]float64{}
	capUnused := map[string]float64{}
	for _, r := range usage {
		if r["CommitmentDiscountId"] == "cap-east" {
			if r["CapacityReservationId"] != "cap-east" || r["CapacityReservationStatus"] != "Used" ||
				r["CommitmentDiscountStatus"] != "Used" || r["CommitmentDiscountCategory"] != "Usage" ||
				r["PricingCategory"] != "Committed" || r["RegionId"] != "eastus" {
				t.Errorf("covered row %v", r)
			}
			if r["CommitmentDiscountQuantity"] != r["ConsumedQuantity"] {
				t.Errorf("covered row: CommitmentDiscountQuantity %s, ConsumedQuantity %s", r["CommitmentDiscountQuantity"], r["ConsumedQuantity"])
			}
			capUsed[r["ChargePeriodStart"]] += r.num(t, "ConsumedQuantity")
		}
	}
	for _, r := range unused {
		if r["CommitmentDiscountId"] != "cap-east" {
			continue
		}
		if r["CapacityReservationStatus"] != "Unused" || r["CapacityReservationId"] != "cap-east" ||
			r["ConsumedQuantity"] != "" || r["ResourceId"] != "commitment/cap-east" ||
			r["ProviderName"] != "Microsoft Azure" || r["CommitmentDiscountCategory"] != "Usage" ||
			r["CommitmentDiscountUnit"] != "GPU-Hours" || r["PricingQuantity"] != r["CommitmentDiscountQuantity"] {
			t.Errorf("unused reservation row %v", r)
		}
		if !strings.Contains(r["Tags"], `"cost_center":"ml-42"`) || !strings.Contains(r["Tags"], `"team":"research"`) {
			t.Errorf("unused reservation row Tags %s lack the commitment's labels and team", r["Tags"])
		}
		capUnused[r["ChargePeriodStart"]] += r.num(t, "CommitmentDiscountQuantity")
	}
	hour := func(h int) string { return at(h).Format(time.RFC3339) }
	wantUsed := map[string]float64{hour(0): 2, hour(1): 4, hour(3): 4, hour(5): 1}
	wantUnused := map[string]float64{hour(0): 2, hour(2): 4, hour(4): 4, hour(5): 3}
	for h := range 6 {
		k := hour(h)
		if !near(capUsed[k], wantUsed[k]) || !near(capUnused[k], wantUnused[k]) {
			t.Errorf("hour %d: reservation used %g unused %g, want %g and %g", h, capUsed[k], capUnused[k], wantUsed[k], wantUnused[k])
		}
	}
	if len(capUnused) != len(wantUnused) {
		t.Errorf("unused reservation rows in hours %v, want %v", capUnused, wantUnused)
	}

	// Hour 1: 6 GPUs in scope, 4 covered, the other 2 on-demand rows with the same resource.
	var uncovered float64
	for _, r := range usage {
		if r["ChargePeriodStart"] == hour(1) && r["RegionId"] == "eastus" && r["CommitmentDiscountId"] == "" {
			uncovered += r.num(t, "ConsumedQuantity")
			if r["CapacityReservationId"] != "" || r["PricingCategory"] != "Standard" {
				t.Errorf("uncovered row %v carries commitment columns", r)
			}
		}
	}
	if !near(uncovered, 2) {
		t.Errorf("hour 1: %g uncovered GPU-hours beyond the reservation, want 2", uncovered)
	}

	// Overflow on another provider is plain usage; the west region is outside the reservation's scope.
	find := func(h int, sku, region string) []focusRow {
		var out []focusRow
		for _, r := range usage {
			if r["ChargePeriodStart"] == hour(h) && r["SkuId"] == sku && r["RegionId"] == region {
				out = append(out, r)
			}
		}
		return out
	}
	for _, tc := range []struct {
		sku, region, provider string
		gpuHours              float64
	}{
		{"BM.GPU.H100.8", "us-ashburn-1", "Oracle Cloud Infrastructure", 3},
		{"nd", "westus", "Microsoft Azure", 5},
		{"g5.xlarge", "us-east-1", "Amazon Web Services", 1},
	} {
		rs := find(2, tc.sku, tc.region)
		if tc.sku == "g5.xlarge" {
			rs = find(3, tc.sku, tc.region)
		}
		if len(rs) != 1 {
			t.Fatalf("%s in %s: %d rows, want 1", tc.sku, tc.region, len(rs))
		}
		r := rs[0]
		if r["PublisherName"] != tc.provider || r["ProviderName"] != tc.provider || r["CommitmentDiscountId"] != "" ||
			!near(r.num(t, "ConsumedQuantity"), tc.gpuHours) || r.num(t, "BilledCost") != 0 || r["BillingCurrency"] != "USD" {
			t.Errorf("%s in %s: %v", tc.sku, tc.region, r)
		}
	}

	// The spend commitment prices p5 at 10 USD per GPU-hour; g5 is not on its rate card.
	p5 := find(3, "p5.48xlarge", "us-east-1")
	if len(p5) != 1 {
		t.Fatalf("p5 rows: %v", p5)
	}
	r := p5[0]
	for _, col := range []string{"BilledCost", "EffectiveCost", "ListCost", "ContractedCost", "CommitmentDiscountQuantity"} {
		if r.num(t, col) != 20 {
			t.Errorf("p5 row %s = %s, want 20", col, r[col])
		}
	}
	if r["CommitmentDiscountId"] != "spend-aws" || r["CommitmentDiscountCategory"] != "Spend" || r["CommitmentDiscountStatus"] != "Used" ||
		r["CommitmentDiscountUnit"] != "USD" || r["ContractedUnitPrice"] != "10" || r["BillingCurrency"] != "USD" ||
		r["CapacityReservationId"] != "" || r["ServiceName"] != "Amazon Elastic Compute Cloud" {
		t.Errorf("p5 row %v", r)
	}
	var spendUnused float64
	var spendHours int
	for _, r := range unused {
		if r["CommitmentDiscountId"] != "spend-aws" {
			continue
		}
		spendHours++
		spendUnused += r.num(t, "EffectiveCost")
		if r["ConsumedQuantity"] != "" || r["CommitmentDiscountCategory"] != "Spend" || r.num(t, "BilledCost") != 0 ||
			r["CapacityReservationId"] != "" || r["CommitmentDiscountQuantity"] != r["EffectiveCost"] {
			t.Errorf("unused spend row %v", r)
		}
	}
	if spendHours != 6 || !near(spendUnused, 980) {
		t.Errorf("unused spend: %d rows, %g USD; want 6 rows, 980 USD", spendHours, spendUnused)
	}

	// Tags: team and model, measures prorated over split rows, busy time absent where unknown.
	var busy, energy float64
	for _, r := range usage {
		var tags map[string]any
		if err := json.Unmarshal([]byte(r["Tags"]), &tags); err != nil {
			t.Fatalf("Tags %q: %v", r["Tags"], err)
		}
		if tags["x_gpumeter.gpu_model"] != "NVIDIA H100 80GB HBM3" {
			t.Errorf("Tags %s lack gpu_model", r["Tags"])
		}
		if r["ChargePeriodStart"] == hour(5) {
			if _, ok := tags["x_gpumeter.busy_gpu_hours"]; ok {
				t.Errorf("hour 5 has no utilization, but Tags %s report busy time", r["Tags"])
			}
		}
		if b, ok := tags["x_gpumeter.busy_gpu_hours"].(float64); ok {
			busy += b
		}
		e, _ := tags["x_gpumeter.energy_kwh"].(float64)
		energy += e
	}
	// 23 GPU-hours with utilization, half busy; 0.5 kWh per GPU-hour.
	if !near(busy, 11.5) || !near(energy, 12) {
		t.Errorf("tags: busy %g GPU-hours, energy %g kWh; want 11.5 and 12", busy, energy)
	}
}

func TestFOCUSEmptyRangeWritesHeaderOnly(t *testing.T) {
	st := teststore.Migrated(t)
	recs, lines := export(t, st, Options{From: at(0), To: at(24)})
	if !slices.Equal(recs[0], Columns(Version12, DatasetCostAndUsage)) {
		t.Errorf("header %v", recs[0])
	}
	if len(recs) != 1 || len(lines) != 0 {
		t.Errorf("empty database: %d CSV records, %d JSON lines; want the header only", len(recs), len(lines))
	}
}
