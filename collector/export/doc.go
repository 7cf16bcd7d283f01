// Package export writes gpumeter's metered GPU-hours and commitments for FinOps tools (`gpumeter-collector export
// --format focus`), in the column names of FOCUS 1.1, the FinOps Open Cost & Usage Specification. The output is CSV
// (a header row, then one record per row) or JSON lines (one object per row, keys in column order, numbers as JSON
// numbers, empty columns as null). Both carry the same rows and columns (the list in write.go), ordered by hour: each hour's usage
// rows, then its unused-commitment rows.
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
//	ChargePeriodStart          hour (RFC 3339, UTC, e.g. 2026-11-01T13:00:00Z)
//	ChargePeriodEnd            hour + 1 h
//	BillingPeriodStart/End     empty (see below)
//	BillingAccountId/Name      empty (see below)
//	SubAccountId               account (unused rows: the commitment's scope account, empty when unscoped)
//	SubAccountName             empty: gpumeter knows account ids, not names
//	ServiceProviderName        provider as a name: the FOCUS name of internal/cloudprovider's table (azure "Microsoft
//	                           Azure", aws "Amazon Web Services", ...); others the provider value. (FOCUS 1.3's name; 1.1 tools read ProviderName.) Unused rows: the commitment's provider
//	ProviderName, PublisherName, InvoiceIssuerName   the same as ServiceProviderName
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
//	PricingCategory            "Committed" on rows with a commitment; empty otherwise (see below)
//	SkuId                      instance type; unused rows: the scope's instance type, else "commitment/<id>"
//	SkuPriceId                 "<provider>/<region>/<instance type>"; unused rows: "commitment/<id>"
//	ListUnitPrice, ContractedUnitPrice   the spend commitment's rate-card price per GPU-hour when one priced the row;
//	                           empty otherwise
//	BilledCost, EffectiveCost, ListCost, ContractedCost   rate-card price × GPU-hours when a spend commitment priced
//	                           the row, else 0 (gpumeter meters, it does not price: join with the provider's own FOCUS
//	                           data on ResourceId/SkuId for money). Unused spend rows: EffectiveCost = the unused money
//	                           (the amortized commitment), the others 0. Unused capacity/usage rows: all 0
//	BillingCurrency            the spend commitment's currency, else "USD"
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
//	Tags                       JSON object (a string in both formats), keys sorted. Usage rows: "team" (when the GPU
//	                           served a team), "gpu_model", "gpumeter.energy_kwh", and, where the device reported
//	                           utilization, "gpumeter.busy_gpu_hours" and "gpumeter.busy_known_gpu_hours" (busy time is
//	                           known only for that part of the GPU-hours; unknown is not zero, so the tags are absent
//	                           when nothing was known). Unused rows: the commitment's labels, "team" (its owner) and
//	                           "gpu_model" (its scope's), when set
//
// # Columns left empty, and why
//
//   - BillingAccountId, BillingAccountName: the account gpumeter records (subscription, AWS account, tenancy, project)
//     is what FOCUS calls a sub account; the billing account above it (enrollment, payer, billing account) is not
//     visible from a GPU node. The columns are present so that the file has FOCUS's mandatory columns.
//   - BillingPeriodStart, BillingPeriodEnd: billing periods are the provider's (calendar months in different time
//     zones, or custom periods); guessing would put rows in the wrong invoice month.
//   - SubAccountName, AvailabilityZone: not in the hourly rollup (zone is kept on raw rows only).
//   - ResourceName on usage rows: ResourceId is gpumeter's own pool id, which has no display name.
//   - PricingCategory on uncovered usage: gpumeter cannot tell on-demand ("Standard") from spot ("Dynamic").
//   - ListUnitPrice, ContractedUnitPrice on unpriced rows: no price is known.
//   - ConsumedQuantity, ConsumedUnit on unused rows: FOCUS requires null there.
//   - ChargeClass: always null; the export never emits corrections (run it again for a period to restate it).
//
// FOCUS columns not in the list at all (SkuMeter, SkuPriceDetails, and later versions' BillingAccountType,
// SubAccountType, InvoiceId, PricingCurrency* and the like) have no source in gpumeter's data.
package export
