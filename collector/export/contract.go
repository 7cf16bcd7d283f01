package export

import (
	"fmt"
	"time"

	"github.com/gpumeter/gpumeter/collector/commitment"
)

// writeContractCommitments writes FOCUS 1.3's ContractCommitment dataset: one row per commitment whose term overlaps
// [from, to), by id. Each commitment is its own contract (ContractId = ContractCommitmentId = its id), as
// ContractApplied on the Cost and Usage rows says.
func writeContractCommitments(cs []commitment.Commitment, from, to time.Time, out sink) (rows int, err error) {
	if err := out.header(); err != nil {
		return 0, fmt.Errorf("export: write header: %w", err)
	}
	for i := range cs { // commitment.Current reads them ordered by id
		c := &cs[i]
		if !c.Start.Before(to) || !c.End.After(from) {
			continue
		}
		if err := out.write(contractCommitmentRow(c)); err != nil {
			return rows, fmt.Errorf("export: write row %d: %w", rows+1, err)
		}
		rows++
	}
	if err := out.flush(); err != nil {
		return rows, fmt.Errorf("export: %w", err)
	}
	return rows, nil
}

// contractCommitmentRow is c as the ContractCommitment dataset describes it.
func contractCommitmentRow(c *commitment.Commitment) row {
	r := newRow()
	start, end := c.Start.UTC().Format(time.RFC3339), c.End.UTC().Format(time.RFC3339)
	r.str("ContractId", c.ID)
	r.str("ContractPeriodStart", start)
	r.str("ContractPeriodEnd", end)
	r.str("ContractCommitmentId", c.ID)
	r.str("ContractCommitmentCategory", category(c.Kind))
	r.str("ContractCommitmentType", commitmentType(c.Kind))
	r.str("ContractCommitmentPeriodStart", start)
	r.str("ContractCommitmentPeriodEnd", end)
	r.str("BillingCurrency", currencyOf(c))
	quantity, unit, cost, ok := committed(c)
	desc := fmt.Sprintf("%s %s: %s %s from %s to %s", commitmentType(c.Kind), c.Name, human(quantity), unit, start, end)
	if c.Kind == commitment.KindCapacity {
		desc = fmt.Sprintf("%s %s: %s GPUs reserved from %s to %s", commitmentType(c.Kind), c.Name, human(c.Quantity), start, end)
	}
	r.str("ContractCommitmentDescription", desc)
	if c.Kind == commitment.KindSpend {
		r.num("ContractCommitmentCost", cost)
	} else {
		r.num("ContractCommitmentQuantity", quantity)
		r.str("ContractCommitmentUnit", unit)
		if ok {
			r.num("ContractCommitmentCost", cost)
		}
	}
	return r
}

// committed is what c commits to over its whole term: GPU-hours (capacity: GPUs × term hours; usage: the quantity)
// or money (spend), and the money a capacity or usage commitment costs when a price is known (ok).
func committed(c *commitment.Commitment) (quantity float64, unit string, cost float64, ok bool) {
	switch c.Kind {
	case commitment.KindSpend:
		return c.Quantity, currencyOf(c), c.Quantity, true
	case commitment.KindCapacity:
		return c.Quantity * c.End.Sub(c.Start).Hours(), UnitGPUHours, 0, false
	}
	return c.Quantity, UnitGPUHours, 0, false
}
