package export

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
)

// FOCUS versions the export writes (Options.Version).
const (
	Version12      = "1.2"
	Version13      = "1.3"
	DefaultVersion = Version12
)

// focus12 is the FOCUS 1.2 Cost and Usage dataset as the export writes it, in order: the CSV header and the key order
// of every JSON line. Every column the 1.2 specification makes mandatory, the conditional ones whose condition
// gpumeter's data meets and the recommended InvoiceId; a custom column, if one is added, takes the x_ prefix. doc.go maps each one to its
// source and says which 1.2 columns are left out and why.
var focus12 = []string{
	"BillingAccountId", "BillingAccountName", "BillingPeriodStart", "BillingPeriodEnd",
	"ChargePeriodStart", "ChargePeriodEnd",
	"SubAccountId", "SubAccountName",
	"ProviderName", "PublisherName", "InvoiceIssuerName", "InvoiceId",
	"ServiceCategory", "ServiceSubcategory", "ServiceName",
	"ChargeCategory", "ChargeClass", "ChargeFrequency", "ChargeDescription",
	"ConsumedQuantity", "ConsumedUnit", "PricingQuantity", "PricingUnit", "PricingCategory",
	"SkuId", "SkuMeter", "SkuPriceId", "SkuPriceDetails", "ListUnitPrice", "ContractedUnitPrice",
	"BilledCost", "EffectiveCost", "ListCost", "ContractedCost", "BillingCurrency",
	"RegionId", "RegionName", "AvailabilityZone",
	"ResourceId", "ResourceName", "ResourceType",
	"CommitmentDiscountId", "CommitmentDiscountName", "CommitmentDiscountCategory", "CommitmentDiscountType",
	"CommitmentDiscountStatus", "CommitmentDiscountQuantity", "CommitmentDiscountUnit",
	"CapacityReservationId", "CapacityReservationStatus",
	"Tags",
}

// focus13 is FOCUS 1.3's Cost and Usage dataset: 1.2's columns with ServiceProviderName and HostProviderName (1.3's
// successors of ProviderName and PublisherName, which 1.3 deprecates but keeps) beside the provider, and
// ContractApplied, which ties a charge to the ContractCommitment dataset (contractCommitmentColumns).
var focus13 = insertAfter(focus12, "PublisherName", "ServiceProviderName", "HostProviderName", "ContractApplied")

// contractCommitmentColumns is FOCUS 1.3's ContractCommitment dataset: one row per commitment, every column the
// dataset requires.
var contractCommitmentColumns = []string{
	"ContractId", "ContractPeriodStart", "ContractPeriodEnd",
	"ContractCommitmentId", "ContractCommitmentCategory", "ContractCommitmentType", "ContractCommitmentDescription",
	"ContractCommitmentPeriodStart", "ContractCommitmentPeriodEnd",
	"ContractCommitmentQuantity", "ContractCommitmentUnit", "ContractCommitmentCost", "BillingCurrency",
}

// Datasets of Options.Dataset.
const (
	DatasetCostAndUsage       = "CostAndUsage"       // usage and unused-commitment rows (every version)
	DatasetContractCommitment = "ContractCommitment" // one row per commitment (FOCUS 1.3 on)
)

// schemas is every dataset the export writes, by version: one column table each; the writer below serves them all.
var schemas = map[string]map[string][]string{
	Version12: {DatasetCostAndUsage: focus12},
	Version13: {DatasetCostAndUsage: focus13, DatasetContractCommitment: contractCommitmentColumns},
}

func insertAfter(cols []string, after string, add ...string) []string {
	i := slices.Index(cols, after)
	if i < 0 {
		panic("export: no column " + after)
	}
	return slices.Concat(cols[:i+1], add, cols[i+1:])
}

// numeric are the columns that hold numbers (JSON numbers in jsonl), in any version; every other column is a string.
var numeric = map[string]bool{
	"ConsumedQuantity": true, "PricingQuantity": true, "ListUnitPrice": true, "ContractedUnitPrice": true,
	"BilledCost": true, "EffectiveCost": true, "ListCost": true, "ContractedCost": true,
	"CommitmentDiscountQuantity": true, "ContractCommitmentQuantity": true, "ContractCommitmentCost": true,
}

// allColumns numbers every column of every table: a row has a cell for each, whatever the version, so the code that
// fills rows is the same for all versions and the schema picks the columns it writes.
var allColumns = func() map[string]int {
	m := map[string]int{providerColumn: 0}
	for _, v := range []string{Version12, Version13} {
		for _, ds := range []string{DatasetCostAndUsage, DatasetContractCommitment} {
			for _, c := range schemas[v][ds] {
				if _, ok := m[c]; !ok {
					m[c] = len(m)
				}
			}
		}
	}
	return m
}()

// layout is one dataset of one version: its column names and where each lives in a row.
type layout struct {
	columns []string
	at      []int
}

func newLayout(version, dataset string) (layout, bool) {
	cols, ok := schemas[version][dataset]
	if !ok {
		return layout{}, false
	}
	s := layout{columns: cols, at: make([]int, len(cols))}
	for i, c := range cols {
		s.at[i] = allColumns[c]
	}
	return s, true
}

// Columns is the column list of a dataset of a FOCUS version, in the order the export writes them; nil when the
// version does not have that dataset.
func Columns(version, dataset string) []string {
	return slices.Clone(schemas[version][dataset])
}

// cell is one value: null (the zero cell), a string or a number (isNum).
type cell struct {
	set, isNum bool
	s          string
	n          float64
}

// row holds one value per column of allColumns; a schema writes its own.
type row []cell

func newRow() row { return make(row, len(allColumns)) }

func index(col string) int {
	i, ok := allColumns[col]
	if !ok {
		panic("export: no column " + col)
	}
	return i
}

// str sets a string column; the empty string stays null.
func (r row) str(col, v string) {
	if numeric[col] {
		panic("export: string into numeric column " + col)
	}
	if v != "" {
		r[index(col)] = cell{set: true, s: v}
	}
}

// num sets a numeric column. NaN and infinities (no finite sum gives them) stay null rather than break the JSON.
func (r row) num(col string, v float64) {
	if !numeric[col] {
		panic("export: number into string column " + col)
	}
	if !math.IsNaN(v) && !math.IsInf(v, 0) {
		r[index(col)] = cell{set: true, isNum: true, n: v}
	}
}

// text is the cell at i as CSV writes it: empty for null, numbers in plain decimal.
func (r row) text(i int) string {
	switch {
	case !r[i].set:
		return ""
	case r[i].isNum:
		return formatNum(r[i].n)
	}
	return r[i].s
}

type sink interface {
	header() error
	write(row) error
	flush() error
}

func newSink(format string, sc layout, w io.Writer) sink {
	if format == FormatCSV {
		return &csvSink{sc: sc, w: csv.NewWriter(w), rec: make([]string, len(sc.columns))}
	}
	return &jsonlSink{sc: sc, w: bufio.NewWriter(w)}
}

type csvSink struct {
	sc  layout
	w   *csv.Writer
	rec []string
}

func (s *csvSink) header() error { return s.w.Write(s.sc.columns) }

func (s *csvSink) write(r row) error {
	for i, at := range s.sc.at {
		s.rec[i] = r.text(at)
	}
	return s.w.Write(s.rec)
}

func (s *csvSink) flush() error {
	s.w.Flush()
	return s.w.Error()
}

type jsonlSink struct {
	sc  layout
	w   *bufio.Writer
	buf []byte
}

func (s *jsonlSink) header() error { return nil }

func (s *jsonlSink) write(r row) error {
	b := append(s.buf[:0], '{')
	for i, col := range s.sc.columns {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, col)
		b = append(b, ':')
		c := r[s.sc.at[i]]
		switch {
		case !c.set:
			b = append(b, "null"...)
		case c.isNum:
			b = append(b, formatNum(c.n)...)
		default:
			b = appendJSONString(b, c.s)
		}
	}
	b = append(b, '}', '\n')
	s.buf = b
	_, err := s.w.Write(b)
	return err
}

func (s *jsonlSink) flush() error { return s.w.Flush() }

func appendJSONString(b []byte, s string) []byte {
	q, err := json.Marshal(s)
	if err != nil { // a string always marshals
		panic(fmt.Sprintf("export: marshal %q: %v", s, err))
	}
	return append(b, q...)
}
