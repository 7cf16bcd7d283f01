package export

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

// The scenario lies well in the past: commitment_hourly only covers complete hours before now().
var t0 = time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)

func at(h int) time.Time { return t0.Add(time.Duration(h) * time.Hour) }

func TestOptionsAreChecked(t *testing.T) {
	for _, opt := range []Options{
		{From: at(0).Add(30 * time.Minute), To: at(2), Format: FormatCSV},
		{From: at(0), To: at(2).Add(time.Second), Format: FormatCSV},
		{From: at(0), To: at(2).Add(time.Nanosecond), Format: FormatJSONL},
		{From: at(2), To: at(2), Format: FormatCSV},
		{From: at(3), To: at(2), Format: FormatCSV},
		{To: at(2), Format: FormatCSV},
		{From: at(0), To: at(2), Format: "xml"},
		{From: at(0), To: at(2)},
		{From: time.Date(1969, 12, 31, 0, 0, 0, 0, time.UTC), To: at(2), Format: FormatCSV},
		{From: at(0), To: at(2), Format: FormatCSV, Version: "1.1"},
		{From: at(0), To: at(2), Format: FormatCSV, Dataset: DatasetContractCommitment}, // 1.2 has no such dataset
		{From: at(0), To: at(2), Format: FormatCSV, Version: Version13, Dataset: "Invoices"},
		{From: at(0), To: at(2), Format: FormatCSV, BillingAccounts: map[string]string{"aws": ""}},
	} {
		var buf bytes.Buffer
		// No connection: options are refused before ClickHouse is asked anything.
		n, err := FOCUS(t.Context(), nil, "db", opt, &buf)
		if !errors.Is(err, ErrBadOptions) || n != 0 || buf.Len() != 0 {
			t.Errorf("%v..%v %q: rows %d, output %q, error %v; want ErrBadOptions and nothing written", opt.From, opt.To, opt.Format, n, buf.String(), err)
		}
	}
	// A non-UTC zone on a whole UTC hour is fine; one on a whole local hour that is not a UTC hour is not.
	india := time.FixedZone("IST", 5*3600+1800)
	if err := (Options{From: at(0).In(india), To: at(1).In(india), Format: FormatCSV}).Validate(); err != nil {
		t.Errorf("whole UTC hours in another zone refused: %v", err)
	}
	if err := (Options{From: time.Date(2024, 3, 1, 6, 0, 0, 0, india), To: at(12), Format: FormatCSV}).Validate(); err == nil ||
		!strings.Contains(err.Error(), "whole UTC hour") {
		t.Errorf("06:00 IST (00:30 UTC) accepted or error unclear: %v", err)
	}
}

func TestParseTime(t *testing.T) {
	for in, want := range map[string]time.Time{
		"2024-03-01T05:00:00Z":      at(5),
		"2024-03-01T07:00:00+02:00": at(5),
		"2024-03-01T05":             at(5),
		"2024-03-01":                at(0),
	} {
		got, err := ParseTime(in)
		if err != nil || !got.Equal(want) || got.Location() != time.UTC {
			t.Errorf("ParseTime(%q) = %v, %v; want %v UTC", in, got, err, want)
		}
	}
	if _, err := ParseTime("yesterday"); err == nil {
		t.Error("ParseTime(yesterday) succeeded")
	}
}

func TestParseBillingAccounts(t *testing.T) {
	got, err := ParseBillingAccounts(" azure=/billingAccounts/1 , aws=111122223333")
	if err != nil || len(got) != 2 || got["azure"] != "/billingAccounts/1" || got["aws"] != "111122223333" {
		t.Errorf("got %v, %v", got, err)
	}
	if got, err := ParseBillingAccounts(""); err != nil || len(got) != 0 {
		t.Errorf("empty: %v, %v", got, err)
	}
	for _, bad := range []string{"aws", "aws=", "=1", "aws=1,aws=2"} {
		if _, err := ParseBillingAccounts(bad); !errors.Is(err, ErrBadOptions) {
			t.Errorf("%q: %v, want ErrBadOptions", bad, err)
		}
	}
}

// spec12 is every column id of the FOCUS 1.2 specification (its columns/ folder, 57 files).
var spec12 = strings.Fields(`AvailabilityZone BilledCost BillingAccountId BillingAccountName BillingAccountType
	BillingCurrency BillingPeriodEnd BillingPeriodStart CapacityReservationId CapacityReservationStatus ChargeCategory
	ChargeClass ChargeDescription ChargeFrequency ChargePeriodEnd ChargePeriodStart CommitmentDiscountCategory
	CommitmentDiscountId CommitmentDiscountName CommitmentDiscountQuantity CommitmentDiscountStatus
	CommitmentDiscountType CommitmentDiscountUnit ConsumedQuantity ConsumedUnit ContractedCost ContractedUnitPrice
	EffectiveCost InvoiceId InvoiceIssuerName ListCost ListUnitPrice PricingCategory PricingCurrency
	PricingCurrencyContractedUnitPrice PricingCurrencyEffectiveCost PricingCurrencyListUnitPrice PricingQuantity
	PricingUnit ProviderName PublisherName RegionId RegionName ResourceId ResourceName ResourceType ServiceCategory
	ServiceName ServiceSubcategory SkuId SkuMeter SkuPriceDetails SkuPriceId SubAccountId SubAccountName
	SubAccountType Tags`)

// leftOut12 are the conditional 1.2 columns whose condition gpumeter's data does not meet (doc.go says why).
var leftOut12 = []string{"BillingAccountType", "SubAccountType", "PricingCurrency", "PricingCurrencyContractedUnitPrice",
	"PricingCurrencyEffectiveCost", "PricingCurrencyListUnitPrice"}

// Every column of every table is a FOCUS column of that version or a custom one (x_); every 1.2 column is written or
// left out for a reason; 1.3 is 1.2 plus its own.
func TestColumnTables(t *testing.T) {
	c12, c13 := Columns(Version12, DatasetCostAndUsage), Columns(Version13, DatasetCostAndUsage)
	if len(spec12) != 57 {
		t.Fatalf("spec12 has %d columns, FOCUS 1.2 57", len(spec12))
	}
	for _, c := range c12 {
		if !slices.Contains(spec12, c) && !strings.HasPrefix(c, "x_") {
			t.Errorf("1.2 column %s is neither a FOCUS 1.2 column nor a custom (x_) one", c)
		}
	}
	for _, c := range spec12 {
		if slices.Contains(c12, c) == slices.Contains(leftOut12, c) {
			t.Errorf("FOCUS 1.2 column %s: written %v, left out %v; want exactly one", c, slices.Contains(c12, c), slices.Contains(leftOut12, c))
		}
	}
	for _, c := range []string{"BillingAccountId", "BillingPeriodStart", "BillingPeriodEnd", "PricingCategory", "InvoiceId", "SkuMeter", "SkuPriceDetails"} {
		if !slices.Contains(c12, c) {
			t.Errorf("1.2 lacks %s", c)
		}
	}
	for _, c := range []string{"ServiceProviderName", "HostProviderName", "ContractApplied"} {
		if slices.Contains(c12, c) || !slices.Contains(c13, c) {
			t.Errorf("%s: want it in 1.3 only", c)
		}
	}
	if len(c13) != len(c12)+3 {
		t.Errorf("1.3 has %d columns, 1.2 %d; want 3 more", len(c13), len(c12))
	}
	if Columns(Version12, DatasetContractCommitment) != nil || len(Columns(Version13, DatasetContractCommitment)) != 13 {
		t.Error("ContractCommitment: want 13 columns in 1.3, none in 1.2")
	}
	if slices.Contains(c12, providerColumn) || slices.Contains(c13, providerColumn) {
		t.Error("the internal provider cell is written")
	}
}
