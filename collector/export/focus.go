package export

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/gpumeter/gpumeter/collector/commitment"
	"github.com/gpumeter/gpumeter/collector/figures"
	"github.com/gpumeter/gpumeter/internal/cloudprovider"
)

// Output formats of Options.Format.
const (
	FormatCSV   = "csv"   // RFC 4180 with a header row of the column names
	FormatJSONL = "jsonl" // one JSON object per line, keys in column order, numbers as numbers, empty as null
)

// ErrBadOptions is wrapped by every error FOCUS returns for Options it refuses before touching ClickHouse.
var ErrBadOptions = errors.New("export: bad options")

// Options says what to export and how.
type Options struct {
	From, To time.Time // [From, To), both on whole UTC hours
	Format   string    // FormatCSV or FormatJSONL
	Version  string    // FOCUS version: Version12 or Version13; empty is DefaultVersion
	Dataset  string    // DatasetCostAndUsage or (1.3) DatasetContractCommitment; empty is DatasetCostAndUsage
	// BillingAccounts names each provider's billing account (BillingAccountId and BillingAccountName), which a GPU
	// node cannot see; a provider not in it is billed to a stand-in account named by its provider value (doc.go).
	BillingAccounts map[string]string
}

func (o Options) version() string {
	if o.Version == "" {
		return DefaultVersion
	}
	return o.Version
}

func (o Options) dataset() string {
	if o.Dataset == "" {
		return DatasetCostAndUsage
	}
	return o.Dataset
}

// ParseBillingAccounts reads a --billing-account value: provider=id pairs separated by commas
// ("azure=/providers/Microsoft.Billing/billingAccounts/123,aws=111122223333"); empty is none.
func ParseBillingAccounts(s string) (map[string]string, error) {
	out := map[string]string{}
	if strings.TrimSpace(s) == "" {
		return out, nil
	}
	for _, pair := range strings.Split(s, ",") {
		provider, id, ok := strings.Cut(strings.TrimSpace(pair), "=")
		provider, id = strings.TrimSpace(provider), strings.TrimSpace(id)
		switch {
		case !ok || provider == "" || id == "":
			return nil, fmt.Errorf("%w: billing account %q is not provider=id", ErrBadOptions, pair)
		case out[provider] != "":
			return nil, fmt.Errorf("%w: billing account of %s given twice", ErrBadOptions, provider)
		}
		out[provider] = id
	}
	return out, nil
}

// Validate checks the options as FOCUS does, so that a command can refuse bad flags before it connects anywhere.
// Its errors wrap ErrBadOptions.
func (o Options) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrBadOptions, fmt.Sprintf(format, args...))
	}
	switch {
	case o.From.IsZero() || o.To.IsZero():
		return bad("from and to are both required")
	case !o.From.Equal(o.From.Truncate(time.Hour)):
		return bad("from %s is not on a whole UTC hour", o.From.UTC().Format(time.RFC3339Nano))
	case !o.To.Equal(o.To.Truncate(time.Hour)):
		return bad("to %s is not on a whole UTC hour", o.To.UTC().Format(time.RFC3339Nano))
	case !o.To.After(o.From):
		return bad("to %s is not after from %s", o.To.UTC().Format(time.RFC3339), o.From.UTC().Format(time.RFC3339))
	case o.From.Unix() < 0 || o.To.Unix() > math.MaxUint32:
		return bad("%s..%s is outside what ClickHouse DateTime holds (1970..2106)",
			o.From.UTC().Format(time.RFC3339), o.To.UTC().Format(time.RFC3339))
	case o.Format != FormatCSV && o.Format != FormatJSONL:
		return bad("format %q is neither %q nor %q", o.Format, FormatCSV, FormatJSONL)
	case schemas[o.version()] == nil:
		return bad("FOCUS version %q is neither %q nor %q", o.Version, Version12, Version13)
	case schemas[o.version()][o.dataset()] == nil:
		return bad("FOCUS %s has no dataset %q (%s has %s)", o.version(), o.Dataset, Version13,
			strings.Join([]string{DatasetCostAndUsage, DatasetContractCommitment}, " and "))
	}
	for provider, id := range o.BillingAccounts {
		if provider == "" || id == "" {
			return bad("billing account %q=%q: provider and id are both required", provider, id)
		}
	}
	return nil
}

// ParseTime reads a --from/--to value: RFC 3339 ("2026-11-01T00:00:00Z"), "2026-11-01T13" (an hour, UTC) or
// "2026-11-01" (midnight UTC).
func ParseTime(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339, "2006-01-02T15", time.DateOnly} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a time: want RFC 3339 (2026-11-01T13:00:00Z), 2026-11-01T13 or 2026-11-01", s)
}

// FOCUS writes opt.Dataset of FOCUS opt.Version for [From, To) (hour-aligned) to w (write.go has the column tables,
// doc.go the mapping). The Cost and Usage dataset has usage and commitment rows ordered by hour: each hour's usage
// rows, then its unused-commitment rows; the ContractCommitment dataset (1.3) has one row per commitment whose term
// overlaps [From, To). It returns the number of rows written, not counting the CSV header.
func FOCUS(ctx context.Context, conn driver.Conn, db string, opt Options, w io.Writer) (rows int, err error) {
	if err := opt.Validate(); err != nil {
		return 0, err
	}
	from, to := opt.From.UTC(), opt.To.UTC()
	cs, err := commitment.Current(ctx, conn, db)
	if err != nil {
		return 0, fmt.Errorf("export: %w", err)
	}
	sc, _ := newLayout(opt.version(), opt.dataset())
	if opt.dataset() == DatasetContractCommitment {
		return writeContractCommitments(cs, from, to, newSink(opt.Format, sc, w))
	}
	byID := make(map[string]*commitment.Commitment, len(cs))
	for i := range cs {
		byID[cs[i].ID] = &cs[i]
	}
	unused, err := figures.UnusedHours(ctx, conn, db, from, to, eps)
	if err != nil {
		return 0, fmt.Errorf("export: %w", err)
	}

	out := newSink(opt.Format, sc, w)
	if err := out.header(); err != nil {
		return 0, fmt.Errorf("export: write header: %w", err)
	}
	emit := func(r row) error {
		billing(r, opt.BillingAccounts)
		contractApplied(r)
		if err := out.write(r); err != nil {
			return fmt.Errorf("export: write row %d: %w", rows+1, err)
		}
		rows++
		return nil
	}
	// Unused rows are few (commitments × hours) and read up front; usage rows stream hour by hour.
	next := 0
	emitUnusedBefore := func(t time.Time) error {
		for ; next < len(unused) && unused[next].Hour.Before(t); next++ {
			if err := emit(unusedRow(unused[next], byID[unused[next].ID])); err != nil {
				return err
			}
		}
		return nil
	}
	var hour []usage
	flush := func() error {
		for _, u := range hour {
			if err := emit(usageRow(partOf(u, byID))); err != nil {
				return err
			}
		}
		hour = hour[:0]
		return nil
	}

	var writeErr error // a row that could not be written, already saying so
	err = figures.HourlyUsage(ctx, conn, db, from, to, func(u usage) error {
		if len(hour) > 0 && !u.Hour.Equal(hour[0].Hour) {
			writeErr = flush()
		}
		if writeErr == nil && len(hour) == 0 {
			writeErr = emitUnusedBefore(u.Hour)
		}
		hour = append(hour, u)
		return writeErr
	})
	if writeErr != nil {
		return rows, writeErr
	}
	if err != nil {
		return rows, fmt.Errorf("export: %w", err)
	}
	if err := flush(); err != nil {
		return rows, err
	}
	if err := emitUnusedBefore(to); err != nil {
		return rows, err
	}
	if err := out.flush(); err != nil {
		return rows, fmt.Errorf("export: %w", err)
	}
	return rows, nil
}

// usage is one row of the hourly rollup.
type usage = figures.Usage

// eps is the smallest amount (GPU-hours or money) worth a row; float sums leave crumbs below it.
const eps = 1e-9

// part is the share of a usage row that one commitment covers (c), or that none covers (c nil), as the allocation
// in ClickHouse (commitment_allocation_hourly) made it.
type part struct {
	usage
	gpuHours float64                // this part's GPU-hours
	c        *commitment.Commitment // nil when no commitment covers it
	price    float64                // per GPU-hour, when a spend commitment's rate card priced it
}

// partOf resolves a row of the allocation to its commitment. A commitment that changed between the two reads (a Sync
// in between) is left nil: the row is then exported as uncovered rather than under a commitment it no longer matches.
func partOf(u usage, byID map[string]*commitment.Commitment) part {
	return part{usage: u, gpuHours: u.GPUHours, c: byID[u.CommitmentID], price: u.Price}
}

// UnitGPUHours is the FOCUS ConsumedUnit and PricingUnit of GPU-hours; the cookbook's FOCUS query (schema/QUERIES.md)
// writes the same, which its test checks.
const UnitGPUHours = "GPU-Hours"

const (
	defaultCurrency = "USD"
	usageBased      = "Usage-Based"
	// tagPrefix starts the key of every tag gpumeter defines (FOCUS: provider-defined tag keys carry a prefix of
	// their own); the team and a commitment's labels are the user's and keep their names.
	tagPrefix = "x_gpumeter."
	// providerColumn is a cell that no schema writes: the row's provider value, for billing.
	providerColumn = "provider"
)

// FOCUS CommitmentDiscountCategory: capacity and usage commitments are counted in GPU-hours, spend ones in money.
func category(k commitment.Kind) string {
	if k == commitment.KindSpend {
		return "Spend"
	}
	return "Usage"
}

func commitmentType(k commitment.Kind) string {
	switch k {
	case commitment.KindCapacity:
		return "Capacity Reservation"
	case commitment.KindUsage:
		return "Usage Commitment"
	case commitment.KindSpend:
		return "Spend Commitment"
	}
	return string(k)
}

func currencyOf(c *commitment.Commitment) string {
	if c != nil && c.Currency != "" {
		return c.Currency
	}
	return defaultCurrency
}

// common fills the columns every row has the same way.
func common(r row, hour time.Time, provider string) {
	r.str("ChargePeriodStart", hour.UTC().Format(time.RFC3339))
	r.str("ChargePeriodEnd", hour.UTC().Add(time.Hour).Format(time.RFC3339))
	start, end := billingPeriod(hour)
	r.str("BillingPeriodStart", start.Format(time.RFC3339))
	r.str("BillingPeriodEnd", end.Format(time.RFC3339))
	r.str(providerColumn, provider) // BillingAccountId when none is given (billing), not written itself
	name := cloudprovider.FOCUSName(provider)
	r.str("ProviderName", name)
	r.str("PublisherName", name)
	r.str("ServiceProviderName", name) // 1.3
	r.str("HostProviderName", name)    // 1.3: the provider's own infrastructure
	r.str("InvoiceIssuerName", name)
	r.str("SkuMeter", skuMeter)
	r.str("ServiceCategory", "Compute")
	r.str("ServiceSubcategory", "Virtual Machines")
	r.str("ServiceName", cloudprovider.ServiceName(provider))
	r.str("ChargeCategory", "Usage")
	r.str("ChargeFrequency", usageBased)
}

// skuMeter is the SkuMeter of every row: what the SKU meters.
const skuMeter = "GPU Usage"

// billingPeriod is the calendar month, in UTC, that holds hour: gpumeter's stand-in for the provider's billing period,
// which it cannot see (providers bill calendar months, some in another time zone).
func billingPeriod(hour time.Time) (start, end time.Time) {
	y, m, _ := hour.UTC().Date()
	start = time.Date(y, m, 1, 0, 0, 0, 0, time.UTC)
	return start, start.AddDate(0, 1, 0)
}

// billing fills BillingAccountId and BillingAccountName from the row's provider: the account opt names for it, else
// the provider value itself, a stable stand-in for a billing account a GPU node cannot see.
func billing(r row, accounts map[string]string) {
	provider := r[index(providerColumn)].s
	id := accounts[provider]
	if id == "" {
		id = provider
	}
	r.str("BillingAccountId", id)
	r.str("BillingAccountName", id)
}

// contractApplied fills FOCUS 1.3's ContractApplied on a row that a commitment covers, from the row's own
// commitment columns, so that it always says what they say. The commitment is its own contract (ContractId =
// ContractCommitmentId, as in the ContractCommitment dataset); the row applies its money to it (EffectiveCost; for a
// spend commitment CommitmentDiscountQuantity, which is money) and, for one counted in GPU-hours, its GPU-hours too.
// Keys in the Id casing of the 1.3 erratum; a datapoint that does not apply is left out. Unused rows apply nothing.
func contractApplied(r row) {
	id := r[index("CommitmentDiscountId")].s
	if id == "" || r[index("CommitmentDiscountStatus")].s != "Used" {
		return
	}
	applied := map[string]any{"ContractId": id, "ContractCommitmentId": id}
	if r[index("CommitmentDiscountCategory")].s == "Spend" {
		applied["ContractCommitmentAppliedCost"] = jsonNum(r[index("CommitmentDiscountQuantity")].n)
	} else {
		applied["ContractCommitmentAppliedCost"] = jsonNum(r[index("EffectiveCost")].n)
		applied["ContractCommitmentAppliedQuantity"] = jsonNum(r[index("CommitmentDiscountQuantity")].n)
		applied["ContractCommitmentAppliedUnit"] = UnitGPUHours
	}
	b, err := json.Marshal(map[string]any{"Elements": []any{applied}})
	if err == nil { // only a NaN or Inf, which json.Number cannot hold; never from finite sums
		r.str("ContractApplied", string(b))
	}
}

// commitmentColumns fills the CommitmentDiscount* and CapacityReservation* columns for a row that consumes, or leaves
// unused, quantity (GPU-hours or money, by category) of c.
func commitmentColumns(r row, c *commitment.Commitment, status string, quantity float64) {
	r.str("CommitmentDiscountId", c.ID)
	r.str("CommitmentDiscountName", c.Name)
	r.str("CommitmentDiscountCategory", category(c.Kind))
	r.str("CommitmentDiscountType", commitmentType(c.Kind))
	r.str("CommitmentDiscountStatus", status)
	r.num("CommitmentDiscountQuantity", quantity)
	if c.Kind == commitment.KindSpend {
		r.str("CommitmentDiscountUnit", currencyOf(c))
	} else {
		r.str("CommitmentDiscountUnit", UnitGPUHours)
	}
	if c.Kind == commitment.KindCapacity {
		r.str("CapacityReservationId", c.ID)
		r.str("CapacityReservationStatus", status)
	}
	r.str("PricingCategory", "Committed")
}

func costs(r row, billed, effective, list, contracted float64, currency string) {
	r.num("BilledCost", billed)
	r.num("EffectiveCost", effective)
	r.num("ListCost", list)
	r.num("ContractedCost", contracted)
	r.str("BillingCurrency", currency)
}

func usageRow(p part) row {
	r := newRow()
	common(r, p.Hour, p.Provider)
	r.str("SubAccountId", p.Account)
	r.num("ConsumedQuantity", p.gpuHours)
	r.str("ConsumedUnit", UnitGPUHours)
	r.num("PricingQuantity", p.gpuHours)
	r.str("PricingUnit", UnitGPUHours)
	r.str("SkuId", p.InstanceType)
	r.str("SkuPriceId", p.Provider+"/"+p.Region+"/"+p.InstanceType)
	r.str("RegionId", p.Region)
	r.str("RegionName", p.Region)
	r.str("ResourceId", p.Provider+"/"+p.Account+"/"+p.Region+"/"+p.InstanceType)
	r.str("ResourceType", "GPU")

	desc := fmt.Sprintf("%s GPU-hours on %s in %s", orUnknown(p.GPUModel), orUnknown(p.InstanceType), orUnknown(p.Region))
	switch {
	case p.c == nil:
		r.str("PricingCategory", "Standard") // on-demand as far as gpumeter knows (doc.go)
		if p.OnDemandPrice <= 0 {
			costs(r, 0, 0, 0, 0, defaultCurrency)
			break
		}
		// Bought on demand: every cost is the price card's (schema/README.md, "Money").
		cost := p.OnDemandPrice * p.gpuHours
		r.num("ListUnitPrice", p.OnDemandPrice)
		r.num("ContractedUnitPrice", p.OnDemandPrice)
		costs(r, cost, cost, cost, cost, p.OnDemandCurrency)
		desc += fmt.Sprintf(", on demand at %s %s per GPU-hour", human(p.OnDemandPrice), p.OnDemandCurrency)
	case p.c.Kind == commitment.KindSpend:
		cost := p.price * p.gpuHours
		r.num("ListUnitPrice", p.price)
		r.num("ContractedUnitPrice", p.price)
		costs(r, cost, cost, cost, cost, currencyOf(p.c))
		commitmentColumns(r, p.c, "Used", cost)
		desc += fmt.Sprintf(", at %s %s per GPU-hour of spend commitment %s", human(p.price), currencyOf(p.c), p.c.Name)
	case p.c.CommittedPrice > 0:
		// A priced reservation or usage commitment, amortised over the GPU-hours it covers: effective and contracted
		// cost at its price per GPU-hour, billed with its purchase (not on this row), listed at the on-demand price
		// card when there is one in its currency.
		amortised := p.c.CommittedPrice * p.gpuHours
		list := 0.0
		if p.OnDemandPrice > 0 && p.OnDemandCurrency == p.c.PriceCurrency {
			list = p.OnDemandPrice * p.gpuHours
			r.num("ListUnitPrice", p.OnDemandPrice)
		}
		r.num("ContractedUnitPrice", p.c.CommittedPrice)
		costs(r, 0, amortised, list, amortised, p.c.PriceCurrency)
		commitmentColumns(r, p.c, "Used", p.gpuHours)
		if p.c.Kind == commitment.KindCapacity {
			desc += ", in capacity reservation " + p.c.Name
		} else {
			desc += ", against usage commitment " + p.c.Name
		}
		desc += fmt.Sprintf(" at %s %s per GPU-hour", human(p.c.CommittedPrice), p.c.PriceCurrency)
	default:
		costs(r, 0, 0, 0, 0, currencyOf(p.c))
		commitmentColumns(r, p.c, "Used", p.gpuHours)
		if p.c.Kind == commitment.KindCapacity {
			desc += ", in capacity reservation " + p.c.Name
		} else {
			desc += ", against usage commitment " + p.c.Name
		}
	}
	r.str("ChargeDescription", desc)

	share := 1.0
	if p.GPUHours > 0 {
		share = p.gpuHours / p.GPUHours
	}
	tags := map[string]any{tagPrefix + "energy_kwh": jsonNum(p.EnergyKWh * share)}
	if p.Team != "" {
		tags["team"] = p.Team
	}
	if p.GPUModel != "" {
		tags[tagPrefix+"gpu_model"] = p.GPUModel
	}
	if p.BusyKnownGPUHours > 0 { // busy time the device could not report is unknown, not zero: leave it out
		tags[tagPrefix+"busy_gpu_hours"] = jsonNum(p.BusyGPUHours * share)
		tags[tagPrefix+"busy_known_gpu_hours"] = jsonNum(p.BusyKnownGPUHours * share)
	}
	r.str("Tags", tagsJSON(tags))
	return r
}

// unusedRow is the unused part of commitment u.ID in hour u.Hour. c is nil when the commitment changed between the
// two reads (a Sync in between); the row then carries what commitment_hourly says.
func unusedRow(u figures.UnusedHour, c *commitment.Commitment) row {
	if c == nil {
		c = &commitment.Commitment{ID: u.ID, Name: u.ID, Provider: u.Provider, Kind: commitment.Kind(u.Kind), Unit: u.Unit}
		if c.Kind == commitment.KindSpend {
			c.Currency = u.Unit
		}
	}
	r := newRow()
	common(r, u.Hour, u.Provider)
	r.str("SubAccountId", c.Scope.Account)
	sku := c.Scope.InstanceType
	if sku == "" {
		sku = "commitment/" + c.ID
	}
	r.str("SkuId", sku)
	r.str("SkuPriceId", "commitment/"+c.ID)
	r.str("RegionId", c.Scope.Region)
	r.str("RegionName", c.Scope.Region)
	r.str("ResourceId", "commitment/"+c.ID)
	r.str("ResourceName", c.Name)
	commitmentColumns(r, c, "Unused", u.Unused)
	var desc string
	switch c.Kind {
	case commitment.KindSpend:
		r.str("ResourceType", "Commitment Discount")
		r.num("PricingQuantity", u.Unused)
		r.str("PricingUnit", currencyOf(c))
		costs(r, 0, u.Unused, 0, 0, currencyOf(c))
		desc = fmt.Sprintf("Unused spend commitment %s: %s %s committed this hour, %s used",
			c.Name, human(u.Committed), currencyOf(c), human(u.Used))
	case commitment.KindCapacity:
		r.str("ResourceType", "Capacity Reservation")
		r.num("PricingQuantity", u.Unused)
		r.str("PricingUnit", UnitGPUHours)
		unusedCosts(r, c, u.Unused)
		desc = fmt.Sprintf("Unused capacity reservation %s: %s GPUs reserved, %s used",
			c.Name, human(u.Committed), human(u.Used))
	default:
		r.str("ResourceType", "Commitment Discount")
		r.num("PricingQuantity", u.Unused)
		r.str("PricingUnit", UnitGPUHours)
		unusedCosts(r, c, u.Unused)
		desc = fmt.Sprintf("Unused usage commitment %s: %s GPU-hours committed this hour (pro rata), %s used",
			c.Name, human(u.Committed), human(u.Used))
	}
	r.str("ChargeDescription", desc)

	tags := map[string]any{}
	for k, v := range c.Labels {
		tags[k] = v
	}
	if c.Team != "" {
		tags["team"] = c.Team
	}
	if c.Scope.GPUModel != "" {
		tags[tagPrefix+"gpu_model"] = c.Scope.GPUModel
	}
	r.str("Tags", tagsJSON(tags))
	return r
}

// unusedCosts are the costs of gpuHours a capacity or usage commitment left unused: amortised at its price per
// GPU-hour into EffectiveCost (nothing billed on the row), 0 without a price.
func unusedCosts(r row, c *commitment.Commitment, gpuHours float64) {
	if c.CommittedPrice <= 0 {
		costs(r, 0, 0, 0, 0, currencyOf(c))
		return
	}
	r.num("ContractedUnitPrice", c.CommittedPrice)
	costs(r, 0, c.CommittedPrice*gpuHours, 0, 0, c.PriceCurrency)
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// formatNum writes a number in plain decimal (FOCUS numeric format: no exponent), shortest exact form.
func formatNum(v float64) string {
	if v == 0 {
		v = 0 // no "-0"
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}

// human rounds an amount for a description (six decimals); the numeric columns keep full precision.
func human(v float64) string { return formatNum(math.Round(v*1e6) / 1e6) }

func jsonNum(v float64) json.Number { return json.Number(formatNum(v)) }

// tagsJSON serializes tags as a JSON object with sorted keys; an empty set is left empty (FOCUS: Tags may be null).
func tagsJSON(tags map[string]any) string {
	if len(tags) == 0 {
		return ""
	}
	b, err := json.Marshal(tags)
	if err != nil { // only a NaN or Inf, which json.Number cannot hold; never from finite sums
		return ""
	}
	return strings.TrimSpace(string(b))
}
