// Package commitment reads the commitments file (--commitments=FILE), checks it, and keeps ClickHouse's
// commitments tables equal to it.
//
// A commitment is bought from one provider for a scope and a term (docs/design.md, "Commitments"):
//   - capacity: Quantity GPUs reserved every hour of the term (unit gpu);
//   - usage: Quantity GPU-hours over the term, at any pace (unit gpu_hour);
//   - spend: Quantity money over the term (unit a currency code), used up at the rate card's price per GPU-hour.
//
// Commitments are measured per hour on provisioned (billed) GPU-hours, so terms start and end on whole UTC hours.
package commitment

import (
	"fmt"
	"os"
	"strings"
	"time"
)

// Kind is what a commitment promises.
type Kind string

// The kinds of commitment. FOCUS calls usage and spend "Usage" and "Spend"; capacity is a capacity reservation.
const (
	KindCapacity Kind = "capacity" // Quantity GPUs every hour of the term
	KindUsage    Kind = "usage"    // Quantity GPU-hours over the term
	KindSpend    Kind = "spend"    // Quantity money over the term, at the rate card's prices
)

// Units of Quantity for capacity and usage commitments; a spend commitment's unit is its currency code.
const (
	UnitGPU     = "gpu"
	UnitGPUHour = "gpu_hour"
)

// Scope says which GPU-hours count against a commitment, beside its provider. An empty field matches anything.
type Scope struct {
	Account      string // subscription / account / tenancy / project
	Region       string
	InstanceType string // VM size / instance type / shape
	GPUModel     string // NVML product name, e.g. "NVIDIA H100 80GB HBM3"
}

// Matches reports whether usage with these attributes falls inside the scope.
func (s Scope) Matches(account, region, instanceType, gpuModel string) bool {
	return (s.Account == "" || s.Account == account) &&
		(s.Region == "" || s.Region == region) &&
		(s.InstanceType == "" || s.InstanceType == instanceType) &&
		(s.GPUModel == "" || s.GPUModel == gpuModel)
}

// Rate is one rate-card line of a spend commitment: the price of one GPU-hour on an instance type and/or GPU model.
type Rate struct {
	InstanceType    string
	GPUModel        string
	PricePerGPUHour float64
}

// Thresholds are when a commitment's alerts fire.
type Thresholds struct {
	ProjectedShortfallPct float64 // projected shortfall at term end above this % of the commitment
	MinUtilizationPct     float64 // utilization to date below this %
	MaxLeakageGPUHours24h float64 // leakage (overflow bought while this commitment had room) over the last 24 h above this
	ExhaustionDays        float64 // a usage or spend commitment that runs out before its term ends, within this many days
}

// DefaultThresholds apply to every threshold a commitment's alerts block leaves out.
var DefaultThresholds = Thresholds{ProjectedShortfallPct: 5, MinUtilizationPct: 80, MaxLeakageGPUHours24h: 10, ExhaustionDays: 14}

// Commitment is one entry of the commitments file, checked and with defaults applied.
type Commitment struct {
	ID       string
	Name     string // defaults to ID
	Provider string // OpenTelemetry cloud.provider value: azure, aws, gcp, oracle_cloud, ...
	Scope    Scope
	Kind     Kind
	Quantity float64
	Unit     string    // gpu (capacity), gpu_hour (usage), the currency code (spend)
	Start    time.Time // UTC, on the hour; inclusive
	End      time.Time // UTC, on the hour; exclusive
	Currency string    // spend only: the currency of Quantity and the rate card (equals Unit)
	RateCard []Rate    // spend only
	Team     string    // owner, for alert routing
	Priority int32     // among commitments of one kind covering the same GPU-hour, the higher applies first (default 0)
	Labels   map[string]string
	Alerts   Thresholds
	// CommittedPrice is what one GPU-hour of a capacity or usage commitment costs (price_per_gpu_hour in the file;
	// 0 = not priced), in PriceCurrency (the file's currency). It values the unused GPU-hours and amortises the
	// commitment over its hours in the FOCUS export.
	CommittedPrice float64
	PriceCurrency  string
}

// File is a commitments file, checked: the currency at its top, its on-demand price cards and its commitments.
type File struct {
	Currency    string // the file's default currency ("" when it sets none)
	Commitments []Commitment
	Prices      PriceCards
	Primary     Primary   // the provider holding the right of first refusal; zero when the file names none
	Requests    []Request // the capacity requests made to the primary (request.go)
}

// Price is one on-demand price card line (prices: in the file): what a provider charges for one GPU-hour no
// commitment covers, for an instance type and/or a GPU model, or for anything of the provider when it names neither.
type Price struct {
	Provider        string
	InstanceType    string
	GPUModel        string
	PricePerGPUHour float64
	Currency        string
}

// PriceCards are the on-demand prices of a file. Every price of one file is in one currency.
type PriceCards []Price

// OnDemand is the on-demand price of one GPU-hour on this provider, instance type and GPU model. The most specific
// line of the provider wins, as in a rate card: one naming both, then the instance type, then the GPU model, then one
// naming neither. ok is false when no line applies.
func (pc PriceCards) OnDemand(provider, instanceType, gpuModel string) (pricePerGPUHour float64, currency string, ok bool) {
	best := -1
	for _, p := range pc {
		if p.Provider != provider || (p.InstanceType != "" && p.InstanceType != instanceType) ||
			(p.GPUModel != "" && p.GPUModel != gpuModel) {
			continue
		}
		if rank := specificity(p.InstanceType, p.GPUModel); rank > best {
			best, pricePerGPUHour, currency = rank, p.PricePerGPUHour, p.Currency
		}
	}
	return pricePerGPUHour, currency, best >= 0
}

// specificity ranks a price line: both named 3, the instance type 2, the GPU model 1, neither 0.
func specificity(instanceType, gpuModel string) int {
	rank := 0
	if instanceType != "" {
		rank += 2
	}
	if gpuModel != "" {
		rank++
	}
	return rank
}

// MaxPriority bounds Priority either way.
const MaxPriority = 1000000

// Active reports whether t falls inside the term.
func (c Commitment) Active(t time.Time) bool { return !t.Before(c.Start) && t.Before(c.End) }

// PricePerGPUHour is the rate card's price for a GPU-hour on this instance type and GPU model. The most specific line
// wins: one naming both, then one naming the instance type, then one naming the GPU model. ok is false when no line
// applies (such GPU-hours do not consume a spend commitment).
func (c Commitment) PricePerGPUHour(instanceType, gpuModel string) (price float64, ok bool) {
	best := -1
	for _, r := range c.RateCard {
		if (r.InstanceType != "" && r.InstanceType != instanceType) || (r.GPUModel != "" && r.GPUModel != gpuModel) {
			continue
		}
		if rank := specificity(r.InstanceType, r.GPUModel); rank > best {
			best, price = rank, r.PricePerGPUHour
		}
	}
	return price, best >= 0
}

// Problem is one thing wrong with a commitments file, with where it is.
type Problem struct {
	File    string
	Line    int    // 1-based; 0 when the problem has no line (an empty file)
	Path    string // e.g. "commitments[2] (id aws-p5): term.end"
	Message string
}

func (p Problem) Error() string {
	if p.Line == 0 {
		return fmt.Sprintf("%s: %s: %s", p.File, p.Path, p.Message)
	}
	return fmt.Sprintf("%s:%d: %s: %s", p.File, p.Line, p.Path, p.Message)
}

// Problems is every problem found in a file, in the order of their lines. Parse and Load return it as their error.
type Problems []Problem

func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.Error()
	}
	return strings.Join(lines, "\n")
}

// Load reads and checks the commitments file at path. Its error lists every problem, one per line, as
// "FILE:LINE: commitments[i] (id X): FIELD: problem"; errors.As finds Problems in it.
func Load(path string) (File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return File{}, fmt.Errorf("commitments: %w", err)
	}
	return Parse(path, data)
}
