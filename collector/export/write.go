package export

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
)

// columns is the FOCUS export's column list, in order: the CSV header and the key order of every JSON line. FOCUS
// 1.1 column ids, plus ServiceProviderName (FOCUS 1.3's successor of ProviderName, filled the same). doc.go maps
// each one to its source.
var columns = []string{
	"ChargePeriodStart", "ChargePeriodEnd", "BillingPeriodStart", "BillingPeriodEnd",
	"BillingAccountId", "BillingAccountName", "SubAccountId", "SubAccountName",
	"ServiceProviderName", "ProviderName", "PublisherName", "InvoiceIssuerName",
	"ServiceCategory", "ServiceSubcategory", "ServiceName",
	"ChargeCategory", "ChargeClass", "ChargeFrequency", "ChargeDescription",
	"ConsumedQuantity", "ConsumedUnit", "PricingQuantity", "PricingUnit", "PricingCategory",
	"SkuId", "SkuPriceId", "ListUnitPrice", "ContractedUnitPrice",
	"BilledCost", "EffectiveCost", "ListCost", "ContractedCost", "BillingCurrency",
	"RegionId", "RegionName", "AvailabilityZone",
	"ResourceId", "ResourceName", "ResourceType",
	"CommitmentDiscountId", "CommitmentDiscountName", "CommitmentDiscountCategory", "CommitmentDiscountType",
	"CommitmentDiscountStatus", "CommitmentDiscountQuantity", "CommitmentDiscountUnit",
	"CapacityReservationId", "CapacityReservationStatus",
	"Tags",
}

// numeric are the columns that hold numbers (JSON numbers in jsonl); every other column is a string.
var numeric = map[string]bool{
	"ConsumedQuantity": true, "PricingQuantity": true, "ListUnitPrice": true, "ContractedUnitPrice": true,
	"BilledCost": true, "EffectiveCost": true, "ListCost": true, "ContractedCost": true,
	"CommitmentDiscountQuantity": true,
}

var columnIndex = func() map[string]int {
	m := make(map[string]int, len(columns))
	for i, c := range columns {
		m[c] = i
	}
	return m
}()

// cell is one value: null (the zero cell), a string or a number.
type cell struct {
	set bool
	s   string
	n   float64
}

// row holds one value per column, in columns order.
type row []cell

func newRow() row { return make(row, len(columns)) }

func index(col string) int {
	i, ok := columnIndex[col]
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
		r[index(col)] = cell{set: true, n: v}
	}
}

// text is the cell as CSV writes it: empty for null, numbers in plain decimal.
func (r row) text(i int) string {
	switch {
	case !r[i].set:
		return ""
	case numeric[columns[i]]:
		return formatNum(r[i].n)
	}
	return r[i].s
}

type sink interface {
	header() error
	write(row) error
	flush() error
}

type csvSink struct {
	w   *csv.Writer
	rec []string
}

func newCSVSink(w io.Writer) *csvSink {
	return &csvSink{w: csv.NewWriter(w), rec: make([]string, len(columns))}
}

func (s *csvSink) header() error { return s.w.Write(columns) }

func (s *csvSink) write(r row) error {
	for i := range columns {
		s.rec[i] = r.text(i)
	}
	return s.w.Write(s.rec)
}

func (s *csvSink) flush() error {
	s.w.Flush()
	return s.w.Error()
}

type jsonlSink struct {
	w   *bufio.Writer
	buf []byte
}

func newJSONLSink(w io.Writer) *jsonlSink { return &jsonlSink{w: bufio.NewWriter(w)} }

func (s *jsonlSink) header() error { return nil }

func (s *jsonlSink) write(r row) error {
	b := append(s.buf[:0], '{')
	for i, col := range columns {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, col)
		b = append(b, ':')
		switch {
		case !r[i].set:
			b = append(b, "null"...)
		case numeric[col]:
			b = append(b, formatNum(r[i].n)...)
		default:
			b = appendJSONString(b, r[i].s)
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
