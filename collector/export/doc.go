// Package export writes gpumeter's metered GPU-hours and commitments for FinOps tools (`gpumeter-collector export
// --format focus`) as FOCUS, the FinOps Open Cost & Usage Specification: version 1.2 by default, 1.3 with
// `--focus-version 1.3`. The output is CSV (a header row, then one record per row) or JSON lines (one object per row,
// keys in column order, numbers as JSON numbers, empty columns as null). Both carry the same rows and columns.
//
// write.go holds one column table per version and dataset (focus12, focus13, contractCommitmentColumns); the rows
// are filled once, by the code below, and each table picks the columns it writes, so the versions cannot drift apart.
// The Cost and Usage dataset is ordered by hour: each hour's usage rows, then its unused-commitment rows. FOCUS 1.3
// adds the ContractCommitment dataset (`--dataset ContractCommitment`), below.
//
// # Rows
//
// Usage rows: one per hour × provider × region × instance type × account × GPU model × team of gpu_usage_hourly
// (the deduplicated hourly rollup), for hours in [From, To), split by the allocation every figure shares
// (commitment_allocation_hourly, schema/README.md "Allocation: one GPU-hour, one commitment"): each GPU-hour is
// covered by at most one commitment (capacity reservations first, then usage, then spend commitments whose rate card
// prices it; priority, then id), so no total counts it twice. A row that a reservation covers only in part is split
// into a covered row and the rest, with the same ResourceId and prorated Tags measures.
//
// So the ConsumedQuantity of usage rows adds up to gpu_usage_hourly's provisioned_gpu_hours for the same hours, and a
// commitment's Used rows add up to the used_gpu_hours the report shows for it.
//
// Unused rows: one per commitment and complete hour of its term in [From, To) where commitment_hourly's unused is
// above zero (capacity: N − min(N, GPUs in use); usage: the hour's pro-rata share of the commitment minus that hour's
// use; spend: the pro-rata money minus the hour's priced use). commitment_hourly stops at the last complete hour
// before now(), so the current hour has no unused rows yet. For a usage or spend commitment "at any pace", an hour's
// unused part can be made up later in the term: summed over the term, the unused rows show the pro-rata (amortized)
// shortfall, which is more than the final shortfall when the pace varies.
//
// Both kinds of row use the commitments as they are now (commitments_current, i.e. the last synced commitments
// file): exporting a past period after a commitment left the file shows its usage uncovered and no unused rows.
//
// # Columns (FOCUS column ← source)
//
//	BillingAccountId, BillingAccountName   the billing account Options.BillingAccounts (--billing-account
//	                           provider=id,...) names for the row's provider; else the provider value ("azure",
//	                           "aws"), a stable stand-in: the billing account above the account gpumeter records
//	                           (enrollment, payer, billing account) is not visible from a GPU node
//	BillingPeriodStart/End     the calendar month, in UTC, that holds the hour (2026-11-01T00:00:00Z ..
//	                           2026-12-01T00:00:00Z): a stand-in for the provider's billing period, which gpumeter
//	                           cannot see (some bill months in another time zone, or custom periods): join with the
//	                           provider's own FOCUS data on ChargePeriodStart, not on the billing period
//	ChargePeriodStart          hour (RFC 3339, UTC, e.g. 2026-11-01T13:00:00Z)
//	ChargePeriodEnd            hour + 1 h
//	SubAccountId               account (unused rows: the commitment's scope account, empty when unscoped)
//	SubAccountName             empty: gpumeter knows account ids, not names
//	ProviderName               provider as a name: the FOCUS name of internal/cloudprovider's table (azure "Microsoft
//	                           Azure", aws "Amazon Web Services", ...; the focus_providers view holds the same, for
//	                           schema/QUERIES.md); others the provider value. Unused rows: the commitment's provider
//	PublisherName, InvoiceIssuerName   the same as ProviderName
//	ServiceProviderName, HostProviderName   1.3 only: the same as ProviderName (1.3's successors of ProviderName and
//	                           PublisherName, which 1.3 deprecates and the 1.3 file still carries); the provider runs
//	                           its GPUs on its own infrastructure
//	InvoiceId                  empty (null): the rows are metered, not invoiced (1.2: recommended; null when no invoice)
//	ServiceCategory            "Compute"
//	ServiceSubcategory         "Virtual Machines"
//	ServiceName                the provider's compute service, from internal/cloudprovider's table (azure "Virtual
//	                           Machines", aws "Amazon Elastic Compute Cloud", ...); others "Compute"
//	ChargeCategory             "Usage" (unused rows too, as FOCUS wants for unused commitment discounts)
//	ChargeClass                empty (null: not a correction)
//	ChargeFrequency            "Usage-Based"
//	ChargeDescription          e.g. "NVIDIA H100 80GB HBM3 GPU-hours on Standard_ND96isr_H100_v5 in eastus, in capacity
//	                           reservation X"; unused rows: "Unused capacity reservation X: 4 GPUs reserved, 1 used"
//	ConsumedQuantity           provisioned GPU-hours of the row (of the part a commitment covers, when split).
//	                           Unused rows: empty — FOCUS: ConsumedQuantity MUST be null when CommitmentDiscountStatus
//	                           is "Unused"; the unused amount is in CommitmentDiscountQuantity and PricingQuantity
//	ConsumedUnit               "GPU-Hours" (empty with ConsumedQuantity)
//	PricingQuantity            = ConsumedQuantity; unused rows: the unused amount (GPU-hours; money for spend)
//	PricingUnit                "GPU-Hours"; unused spend rows: the currency
//	PricingCategory            "Committed" on rows with a commitment; "Standard" otherwise (FOCUS wants one on every
//	                           Usage row; gpumeter cannot tell on-demand from spot, "Dynamic", so it says on-demand)
//	SkuId                      instance type; unused rows: the scope's instance type, else "commitment/<id>"
//	SkuMeter                   "GPU Usage" (what every SKU's row meters)
//	SkuPriceId                 "<provider>/<region>/<instance type>"; unused rows: "commitment/<id>"
//	SkuPriceDetails            empty (null, which FOCUS allows): gpumeter has no SKU price properties
//	ListUnitPrice, ContractedUnitPrice   the spend commitment's rate-card price per GPU-hour when one priced the row;
//	                           empty otherwise
//	BilledCost, EffectiveCost, ListCost, ContractedCost   rate-card price × GPU-hours when a spend commitment priced
//	                           the row, else 0 (gpumeter meters, it does not price: join with the provider's own FOCUS
//	                           data on ResourceId/SkuId for money). Unused spend rows: EffectiveCost = the unused money
//	                           (the amortized commitment), the others 0. Unused capacity/usage rows: all 0
//	BillingCurrency            the currency of the row's price (price card, commitment price, rate card), else "USD"
//	RegionId, RegionName       region (unused rows: the scope's region)
//	AvailabilityZone           empty: gpu_usage_hourly is not split by zone
//	ResourceId                 "<provider>/<account>/<region>/<instance type>": a stable id of the pool of GPUs the
//	                           row meters (hourly grain has no per-GPU or per-node rows). Unused rows: "commitment/<id>"
//	ResourceName               empty; unused rows: the commitment's name
//	ResourceType               "GPU"; unused rows: "Capacity Reservation" or "Commitment Discount"
//	CommitmentDiscountId       the commitment's id (rows it covers, and its unused rows)
//	CommitmentDiscountName     its name
//	CommitmentDiscountCategory "Usage" for capacity and usage commitments, "Spend" for spend ones
//	CommitmentDiscountType     "Capacity Reservation", "Usage Commitment" or "Spend Commitment"
//	CommitmentDiscountStatus   "Used" or "Unused"
//	CommitmentDiscountQuantity GPU-hours covered or unused (category Usage); money consumed or unused (Spend)
//	CommitmentDiscountUnit     "GPU-Hours", or the spend commitment's currency
//	CapacityReservationId      capacity commitments only: the commitment's id
//	CapacityReservationStatus  "Used" or "Unused", capacity commitments only
//	Tags                       JSON object (a string in both formats), keys sorted. Keys gpumeter defines carry the
//	                           prefix "x_gpumeter." (FOCUS: provider-defined tag keys have a prefix of their own); the
//	                           team and a commitment's labels are the user's and keep their names. Usage rows: "team"
//	                           (when the GPU served a team), "x_gpumeter.gpu_model", "x_gpumeter.energy_kwh", and,
//	                           where the device reported utilization, "x_gpumeter.busy_gpu_hours" and
//	                           "x_gpumeter.busy_known_gpu_hours" (busy time is known only for that part of the
//	                           GPU-hours; unknown is not zero, so the tags are absent when nothing was known). Unused
//	                           rows: the commitment's labels, "team" (its owner) and "x_gpumeter.gpu_model" (its
//	                           scope's), when set
//	ContractApplied            1.3 only, on rows a commitment covers (Used): {"Elements":[{"ContractId": id,
//	                           "ContractCommitmentId": id, "ContractCommitmentAppliedCost": EffectiveCost (spend: the
//	                           money consumed), "ContractCommitmentAppliedQuantity": GPU-hours and
//	                           "ContractCommitmentAppliedUnit": "GPU-Hours" (capacity and usage commitments)}]}, keys in
//	                           the Id casing of the 1.3 erratum; null elsewhere. Each commitment is its own contract
//
// # ContractCommitment dataset (1.3)
//
// One row per commitment whose term overlaps [From, To), by id:
//
//	ContractId, ContractCommitmentId   the commitment's id
//	ContractPeriodStart/End, ContractCommitmentPeriodStart/End   its term
//	ContractCommitmentCategory "Usage" (capacity and usage commitments) or "Spend"
//	ContractCommitmentType     "Capacity Reservation", "Usage Commitment" or "Spend Commitment"
//	ContractCommitmentDescription  e.g. "Capacity Reservation X: 4 GPUs reserved from ... to ..."
//	ContractCommitmentQuantity, ContractCommitmentUnit   GPU-hours committed over the term (capacity: GPUs × term
//	                           hours) and "GPU-Hours"; empty for spend commitments
//	ContractCommitmentCost     spend: the money committed; others empty (no price is known)
//	BillingCurrency            the currency of the row's price (price card, commitment price, rate card), else "USD"
//
// # Columns left empty, and why
//
//   - SubAccountName, AvailabilityZone: not in the hourly rollup (zone is kept on raw rows only).
//   - ResourceName on usage rows: ResourceId is gpumeter's own pool id, which has no display name.
//   - InvoiceId, SkuPriceDetails: see above.
//   - ListUnitPrice, ContractedUnitPrice on unpriced rows: no price is known.
//   - ConsumedQuantity, ConsumedUnit on unused rows: FOCUS requires null there.
//   - ChargeClass: always null; the export never emits corrections (run it again for a period to restate it).
//
// # FOCUS 1.2 columns not in the file, and why
//
// Each is conditional in the 1.2 specification, and its condition does not hold for gpumeter's data:
//
//   - BillingAccountType, SubAccountType: present when a provider has more than one type of (sub) account; the
//     accounts gpumeter records are of one type per provider.
//   - PricingCurrency, PricingCurrencyListUnitPrice, PricingCurrencyContractedUnitPrice, PricingCurrencyEffectiveCost:
//     present when prices are in another currency than the bill (or a virtual one); gpumeter prices in the
//     commitment's currency, which is the BillingCurrency.
//
// FOCUS 1.3 columns left out of the 1.3 file for the same reason: the Allocated* columns (present when the provider
// splits a shared resource's cost; gpumeter meters each GPU, it does not split one). Custom columns, should one be
// added, take the x_ prefix (TestColumnTables checks the tables).
package export
