package commitment

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func hour(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

func TestParseGood(t *testing.T) {
	got, err := commitmentsOf(Load("testdata/good.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	h100 := "NVIDIA H100 80GB HBM3"
	coreweave := Commitment{ID: "coreweave-eur", Name: "coreweave-eur", Provider: "coreweave", Kind: KindSpend,
		Quantity: 100000, Unit: "EUR", Currency: "EUR", Start: hour("2026-12-01T00:00:00Z"), End: hour("2027-12-01T00:00:00Z"),
		RateCard: []Rate{{GPUModel: "NVIDIA H200", PricePerGPUHour: 3}}, Alerts: DefaultThresholds}
	coreweave2028 := coreweave
	coreweave2028.ID, coreweave2028.Name = "coreweave-eur-2028", "coreweave-eur-2028"
	coreweave2028.Start, coreweave2028.End = hour("2027-12-01T00:00:00Z"), hour("2028-12-01T00:00:00Z")
	want := []Commitment{
		{
			ID: "azure-ndh100-2026", Name: "Azure ND H100 v5 capacity reservation, East US", Provider: "azure",
			Scope: Scope{Account: "0123-sub", Region: "eastus", InstanceType: "Standard_ND96isr_H100_v5", GPUModel: h100},
			Kind:  KindCapacity, Quantity: 24, Unit: UnitGPU,
			Start: hour("2026-11-01T00:00:00Z"), End: hour("2027-11-01T00:00:00Z"),
			Team: "platform", Labels: map[string]string{"cost_center": "ml", "priority": "1"},
			Alerts: Thresholds{ProjectedShortfallPct: 2.5, MinUtilizationPct: 90, MaxLeakageGPUHours24h: 0, ExhaustionDays: 14},
		},
		{
			ID: "oci-usage", Name: "oci-usage", Provider: "oracle_cloud", Scope: Scope{Region: "us-ashburn-1"},
			Kind: KindUsage, Quantity: 50000.5, Unit: UnitGPUHour, Priority: -2,
			// A YAML date is midnight UTC; an offset is converted to UTC.
			Start: hour("2027-01-01T00:00:00Z"), End: hour("2028-01-01T00:00:00Z"),
			Alerts: Thresholds{ProjectedShortfallPct: 5, MinUtilizationPct: 50, MaxLeakageGPUHours24h: 10, ExhaustionDays: 14},
		},
		{
			ID: "aws-p5-spend", Name: "aws-p5-spend", Provider: "aws", Kind: KindSpend, Quantity: 250000,
			Unit: "USD", Currency: "USD", // from the file's currency
			Start: hour("2026-11-01T00:00:00Z"), End: hour("2027-11-01T00:00:00Z"),
			RateCard: []Rate{
				{InstanceType: "p5.48xlarge", PricePerGPUHour: 12.29},
				{GPUModel: h100, PricePerGPUHour: 11},
				{InstanceType: "p5.48xlarge", GPUModel: h100, PricePerGPUHour: 10.5},
			},
			Alerts: DefaultThresholds,
		},
		coreweave,
		coreweave2028,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got\n%s\nwant\n%s", dump(got), dump(want))
	}
	for _, c := range got {
		if c.Start.Location() != time.UTC || c.End.Location() != time.UTC {
			t.Errorf("%s: term not in UTC: %v %v", c.ID, c.Start, c.End)
		}
	}
}

func dump(cs []Commitment) string {
	var b strings.Builder
	for _, c := range cs {
		fmt.Fprintf(&b, "  %+v\n", c)
	}
	return b.String()
}

// TestParseProblems pins every check's message and line. Each file holds one theme of mistakes.
func TestParseProblems(t *testing.T) {
	cases := map[string][]string{
		"bad_syntax.yaml": {
			"testdata/bad_syntax.yaml:4: yaml: mapping values are not allowed in this context",
		},
		"bad_empty.yaml": {
			"testdata/bad_empty.yaml: file: empty: want a mapping with a commitments list",
		},
		"bad_documents.yaml": {
			"testdata/bad_documents.yaml:2: file: a second YAML document: put every commitment in one commitments list",
		},
		"bad_list.yaml": {
			"testdata/bad_list.yaml:1: file: want a mapping with currency (optional) and a commitments list, got a list",
		},
		"bad_top.yaml": {
			`testdata/bad_top.yaml:1: currency: "usd": currency codes are upper-case (ISO 4217): write USD`,
			"testdata/bad_top.yaml:1: commitments: missing: want a list of commitments (it may be empty: commitments: [])",
			"testdata/bad_top.yaml:2: comitments: unknown field (did you mean commitments?)",
		},
		"bad_priority.yaml": {
			"testdata/bad_priority.yaml:7: commitments[0] (id half): priority: 1.5: want a whole number",
			"testdata/bad_priority.yaml:13: commitments[1] (id huge): priority: 2000000: want a whole number from -1000000 to 1000000",
			`testdata/bad_priority.yaml:19: commitments[2] (id text): priority: want a number, got "high"`,
		},
		"bad_ids.yaml": {
			"testdata/bad_ids.yaml:2: commitments[0]: id: missing",
			"testdata/bad_ids.yaml:12: commitments[2] (id dup): id: duplicate: commitments[1] at line 7 has the same id",
			`testdata/bad_ids.yaml:17: commitments[3]: id: "has space": use letters, digits and . _ - : / (at most 128, starting with a letter or digit)`,
			"testdata/bad_ids.yaml:22: commitments[4]: id: empty",
			`testdata/bad_ids.yaml:27: commitments[5]: commitment: want a mapping of fields (id, provider, kind, ...), got "just a string"`,
		},
		"bad_kinds.yaml": {
			`testdata/bad_kinds.yaml:4: commitments[0] (id unknown-kind): kind: unknown kind "reservation": capacity (GPUs every hour), usage (GPU-hours over the term) or spend (money over the term)`,
			"testdata/bad_kinds.yaml:7: commitments[1] (id no-kind-no-quantity): kind: missing: capacity, usage or spend",
			"testdata/bad_kinds.yaml:7: commitments[1] (id no-kind-no-quantity): quantity: missing",
			"testdata/bad_kinds.yaml:13: commitments[2] (id zero): quantity: 0: must be more than 0",
			"testdata/bad_kinds.yaml:18: commitments[3] (id negative): quantity: -5: must be more than 0",
			"testdata/bad_kinds.yaml:23: commitments[4] (id half-gpu): quantity: 7.5: a capacity commitment reserves whole GPUs",
			`testdata/bad_kinds.yaml:28: commitments[5] (id quoted-quantity): quantity: want a number, got "24"`,
			"testdata/bad_kinds.yaml:33: commitments[6] (id not-a-number): quantity: .nan: want a finite number",
			`testdata/bad_kinds.yaml:39: commitments[7] (id capacity-in-gpu-hours): unit: "gpu_hour" does not match kind capacity: capacity commitments count GPUs reserved every hour (unit gpu)`,
			`testdata/bad_kinds.yaml:45: commitments[8] (id usage-in-gpus): unit: "gpus" does not match kind usage: usage commitments count GPU-hours over the term (unit gpu_hour)`,
		},
		"bad_terms.yaml": {
			"testdata/bad_terms.yaml:6: commitments[0] (id end-before-start): term.end: 2026-11-01T00:00:00Z is not after term.start 2027-11-01T00:00:00Z",
			"testdata/bad_terms.yaml:13: commitments[1] (id empty-term): term.end: 2026-11-01T00:00:00Z is not after term.start 2026-11-01T00:00:00Z",
			"testdata/bad_terms.yaml:19: commitments[2] (id half-hour): term.start: 2026-11-01T00:30:00Z is not on a whole UTC hour: commitments are measured per hour",
			"testdata/bad_terms.yaml:25: commitments[3] (id india-time): term.start: 2026-11-01T00:00:00+05:30 is not on a whole UTC hour: commitments are measured per hour",
			`testdata/bad_terms.yaml:30: commitments[4] (id no-zone): term.start: "2026-11-01T00:00:00": want an RFC 3339 time such as 2026-11-01T00:00:00Z`,
			`testdata/bad_terms.yaml:30: commitments[4] (id no-zone): term.end: "next year": want an RFC 3339 time such as 2026-11-01T00:00:00Z`,
			"testdata/bad_terms.yaml:35: commitments[5] (id no-end): term.end: missing",
			"testdata/bad_terms.yaml:36: commitments[6] (id no-term): term: missing: {start: ..., end: ...}, whole UTC hours",
			`testdata/bad_terms.yaml:44: commitments[7] (id term-string): term: want a mapping with start, end, got "1 year"`,
			"testdata/bad_terms.yaml:49: commitments[8] (id far-future): term.end: 2200-01-01T00:00:00Z is outside what ClickHouse DateTime holds (1970 to 2106)",
		},
		"bad_providers.yaml": {
			`testdata/bad_providers.yaml:3: commitments[0] (id upper): provider: "Azure": provider values are lower-case words: write azure`,
			`testdata/bad_providers.yaml:8: commitments[1] (id oci): provider: "oci" is not an OpenTelemetry cloud.provider value: write oracle_cloud`,
			`testdata/bad_providers.yaml:13: commitments[2] (id oci-upper): provider: "OCI" is not an OpenTelemetry cloud.provider value: write oracle_cloud`,
			`testdata/bad_providers.yaml:18: commitments[3] (id empty): provider: "": want a lower-case word, the OpenTelemetry cloud.provider value (azure, aws, gcp, oracle_cloud, ibm_cloud, alibaba_cloud, tencent_cloud, or e.g. coreweave, on_prem)`,
			"testdata/bad_providers.yaml:22: commitments[4] (id missing): provider: missing: the OpenTelemetry cloud.provider value (azure, aws, gcp, oracle_cloud, ibm_cloud, alibaba_cloud, tencent_cloud, or a lower-case word such as coreweave)",
			"testdata/bad_providers.yaml:27: commitments[5] (id unknown): provider: unknown is for usage nobody could attribute; a commitment is bought from a named provider",
			`testdata/bad_providers.yaml:32: commitments[6] (id google-cloud): provider: "Google Cloud" is not an OpenTelemetry cloud.provider value: write gcp`,
			`testdata/bad_providers.yaml:37: commitments[7] (id on-prem): provider: "on-prem": provider values are lower-case words: write on_prem`,
			`testdata/bad_providers.yaml:42: commitments[8] (id punctuation): provider: "core weave!": want a lower-case word, the OpenTelemetry cloud.provider value (azure, aws, gcp, oracle_cloud, ibm_cloud, alibaba_cloud, tencent_cloud, or e.g. coreweave, on_prem)`,
		},
		"bad_spend.yaml": {
			"testdata/bad_spend.yaml:3: commitments[0] (id no-rate-card): rate_card: missing: a spend commitment needs the price per GPU-hour of what consumes it",
			"testdata/bad_spend.yaml:13: commitments[1] (id empty-rate-card): rate_card: empty: a spend commitment needs the price per GPU-hour of what consumes it",
			`testdata/bad_spend.yaml:19: commitments[2] (id bad-lines): unit: "usd": currency codes are upper-case (ISO 4217): write USD`,
			"testdata/bad_spend.yaml:22: commitments[2] (id bad-lines): rate_card[0]: names neither instance_type nor gpu_model: say what this price is for",
			"testdata/bad_spend.yaml:23: commitments[2] (id bad-lines): rate_card[1].price_per_gpu_hour: 0: must be more than 0",
			"testdata/bad_spend.yaml:24: commitments[2] (id bad-lines): rate_card[2].price_per_gpu_hour: -3: must be more than 0",
			"testdata/bad_spend.yaml:24: commitments[2] (id bad-lines): rate_card[2]: same instance_type and gpu_model as rate_card[1] (line 23)",
			"testdata/bad_spend.yaml:25: commitments[2] (id bad-lines): rate_card[3].price_per_gpu_hour: missing",
			"testdata/bad_spend.yaml:26: commitments[2] (id bad-lines): rate_card[4].instance_type: p4d.24xlarge is outside the scope (instance_type p5.48xlarge): this line could never apply",
			"testdata/bad_spend.yaml:26: commitments[2] (id bad-lines): rate_card[4].gpu_model: NVIDIA A100-SXM4-40GB is outside the scope (gpu_model NVIDIA H100 80GB HBM3): this line could never apply",
			`testdata/bad_spend.yaml:27: commitments[2] (id bad-lines): rate_card[5].price_per_gpu_hour: want a number, got "twelve"`,
			"testdata/bad_spend.yaml:27: commitments[2] (id bad-lines): rate_card[5]: same instance_type and gpu_model as rate_card[1] (line 23)",
			`testdata/bad_spend.yaml:28: commitments[2] (id bad-lines): rate_card[6]: want {instance_type and/or gpu_model, price_per_gpu_hour}, got "p5.48xlarge"`,
			"testdata/bad_spend.yaml:29: commitments[2] (id bad-lines): rate_card[7].price: unknown field (known: instance_type, gpu_model, price_per_gpu_hour)",
			"testdata/bad_spend.yaml:29: commitments[2] (id bad-lines): rate_card[7].price_per_gpu_hour: missing",
			"testdata/bad_spend.yaml:29: commitments[2] (id bad-lines): rate_card[7]: same instance_type and gpu_model as rate_card[1] (line 23)",
			`testdata/bad_spend.yaml:34: commitments[3] (id spend-in-gpu-hours): unit: "gpu_hour" does not match kind spend: a spend commitment is an amount of money (unit a currency code such as USD)`,
			"testdata/bad_spend.yaml:36: commitments[3] (id spend-in-gpu-hours): rate_card: want a list of {instance_type and/or gpu_model, price_per_gpu_hour}, got a mapping",
			"testdata/bad_spend.yaml:43: commitments[4] (id capacity-with-rates): rate_card: only spend commitments use a rate card (this one is capacity)",
			`testdata/bad_spend.yaml:48: commitments[5] (id dollars): unit: "$": want an ISO 4217 currency code such as USD or EUR`,
		},
		"bad_spend_currency.yaml": {
			"testdata/bad_spend_currency.yaml:2: commitments[0] (id which-money): unit: missing: a spend commitment is an amount of money; set unit to its currency (e.g. USD) or the file's currency",
		},
		"bad_alerts.yaml": {
			"testdata/bad_alerts.yaml:8: commitments[0] (id negative-thresholds): alerts.projected_shortfall_pct: -1: must not be negative",
			"testdata/bad_alerts.yaml:9: commitments[0] (id negative-thresholds): alerts.min_utilization_pct: -80: must not be negative",
			"testdata/bad_alerts.yaml:10: commitments[0] (id negative-thresholds): alerts.max_leakage_gpu_hours_24h: -10: must not be negative",
			"testdata/bad_alerts.yaml:17: commitments[1] (id odd-thresholds): alerts.projected_shortfall_pct: 150: a percentage, at most 100",
			`testdata/bad_alerts.yaml:18: commitments[1] (id odd-thresholds): alerts.min_utilization_pct: want a number, got "80%"`,
			"testdata/bad_alerts.yaml:19: commitments[1] (id odd-thresholds): alerts.max_leakage_gpu_hours: unknown field (known: projected_shortfall_pct, min_utilization_pct, max_leakage_gpu_hours_24h, exhaustion_days)",
			"testdata/bad_alerts.yaml:25: commitments[2] (id alerts-list): alerts: want a mapping with projected_shortfall_pct, min_utilization_pct, max_leakage_gpu_hours_24h, exhaustion_days, got a list",
		},
		"bad_keys.yaml": {
			"testdata/bad_keys.yaml:5: commitments[0] (id typos): quantiy: unknown field (did you mean quantity?)",
			"testdata/bad_keys.yaml:7: commitments[0] (id typos): scope.zone: unknown field (known: account, region, instance_type, gpu_model)",
			"testdata/bad_keys.yaml:7: commitments[0] (id typos): scope.instance: unknown field (known: account, region, instance_type, gpu_model)",
			"testdata/bad_keys.yaml:8: commitments[0] (id typos): term.length: unknown field (known: start, end)",
			"testdata/bad_keys.yaml:10: commitments[0] (id typos): team: repeated (first at line 9)",
			"testdata/bad_keys.yaml:19: commitments[2] (id merged): quantity: 0: must be more than 0",
			"testdata/bad_keys.yaml:20: commitments[3] (id merged-badly): <<: merge a mapping (<<: *anchor), got 42",
			`testdata/bad_keys.yaml:27: commitments[4] (id labels-wrong): scope: want a mapping with account, region, instance_type, gpu_model, got "eastus"`,
			"testdata/bad_keys.yaml:29: commitments[4] (id labels-wrong): labels.cost_center: want a value (a string), got a list",
			"testdata/bad_keys.yaml:30: commitments[4] (id labels-wrong): labels.owner: want a value (a string), got nothing",
			"testdata/bad_keys.yaml:31: commitments[4] (id labels-wrong): labels.cost_center: duplicate label (first at line 29)",
			"testdata/bad_keys.yaml:37: commitments[5] (id labels-list): labels: want a mapping of names to values, got a list",
			"testdata/bad_keys.yaml:38: commitments[5] (id labels-list): name: want a string, got a mapping",
			"testdata/bad_keys.yaml:39: commitments[5] (id labels-list): Kind: unknown field (did you mean kind?)",
		},
	}
	files, err := filepath.Glob("testdata/bad_*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if _, ok := cases[filepath.Base(f)]; !ok {
			t.Errorf("%s has no expected problems in this test", f)
		}
	}
	for name, want := range cases {
		t.Run(name, func(t *testing.T) {
			cs, err := commitmentsOf(Load(filepath.Join("testdata", name)))
			if err == nil {
				t.Fatalf("no error; parsed %d commitments", len(cs))
			}
			if cs != nil {
				t.Errorf("commitments returned with an error: %v", cs)
			}
			var probs Problems
			if !errors.As(err, &probs) {
				t.Fatalf("error is %T, not Problems: %v", err, err)
			}
			got := strings.Split(err.Error(), "\n")
			if !slices.Equal(got, want) {
				t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			if len(probs) != len(want) {
				t.Errorf("%d Problems, %d lines", len(probs), len(want))
			}
			if !slices.IsSortedFunc(probs, func(a, b Problem) int { return a.Line - b.Line }) {
				t.Errorf("problems not in line order")
			}
		})
	}
}

func TestParseEdges(t *testing.T) {
	t.Run("empty list", func(t *testing.T) {
		cs, err := commitmentsOf(Parse("f.yaml", []byte("commitments: []\n")))
		if err != nil || len(cs) != 0 {
			t.Fatalf("got %v, %v; want no commitments and no error", cs, err)
		}
	})
	t.Run("problem fields", func(t *testing.T) {
		_, err := commitmentsOf(Parse("f.yaml", []byte("commitments:\n  - id: x\n    kind: capacity\n    quantity: 1\n    provider: azure\n")))
		var probs Problems
		if !errors.As(err, &probs) || len(probs) != 1 {
			t.Fatalf("got %v", err)
		}
		want := Problem{File: "f.yaml", Line: 2, Path: "commitments[0] (id x): term", Message: "missing: {start: ..., end: ...}, whole UTC hours"}
		if probs[0] != want {
			t.Errorf("got %+v, want %+v", probs[0], want)
		}
	})
	t.Run("spend unit from the file's currency, explicit unit wins", func(t *testing.T) {
		cs, err := commitmentsOf(Parse("f.yaml", []byte(`currency: EUR
commitments:
  - {id: a, provider: aws, kind: spend, quantity: 5, term: {start: 2026-01-01, end: 2027-01-01}, rate_card: [{gpu_model: g, price_per_gpu_hour: 1}]}
  - {id: b, provider: aws, kind: spend, quantity: 5, unit: JPY, term: {start: 2026-01-01, end: 2027-01-01}, rate_card: [{gpu_model: g, price_per_gpu_hour: 1}]}
`)))
		if err != nil {
			t.Fatal(err)
		}
		if cs[0].Unit != "EUR" || cs[0].Currency != "EUR" || cs[1].Unit != "JPY" || cs[1].Currency != "JPY" {
			t.Errorf("units %s/%s, %s/%s", cs[0].Unit, cs[0].Currency, cs[1].Unit, cs[1].Currency)
		}
	})
	t.Run("unit defaults to the kind's", func(t *testing.T) {
		cs, err := commitmentsOf(Parse("f.yaml", []byte(`commitments:
  - {id: a, provider: azure, kind: capacity, quantity: 8, term: {start: 2026-01-01, end: 2027-01-01}}
  - {id: b, provider: azure, kind: usage, quantity: 8, term: {start: 2026-01-01, end: 2027-01-01}}
`)))
		if err != nil {
			t.Fatal(err)
		}
		if cs[0].Unit != UnitGPU || cs[1].Unit != UnitGPUHour || cs[0].Currency != "" {
			t.Errorf("units %q %q currency %q", cs[0].Unit, cs[1].Unit, cs[0].Currency)
		}
	})
	t.Run("a bad file currency is reported once", func(t *testing.T) {
		_, err := commitmentsOf(Parse("f.yaml", []byte(`currency: dollars
commitments:
  - {id: a, provider: aws, kind: spend, quantity: 5, term: {start: 2026-01-01, end: 2027-01-01}, rate_card: [{gpu_model: g, price_per_gpu_hour: 1}]}
`)))
		want := `f.yaml:1: currency: "dollars": want an ISO 4217 currency code such as USD or EUR`
		if err == nil || err.Error() != want {
			t.Errorf("got %v, want %s", err, want)
		}
	})
}

// commitmentsOf is the commitments of a parsed file.
func commitmentsOf(f File, err error) ([]Commitment, error) { return f.Commitments, err }

func TestExampleFileParses(t *testing.T) {
	cs, err := commitmentsOf(Load("../../deploy/commitments.example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]Commitment{}
	for _, c := range cs {
		byID[c.ID] = c
	}
	az, ok := byID["azure-ndh100-eastus-2026"]
	if !ok {
		t.Fatalf("no Azure capacity commitment in %v", dump(cs))
	}
	if az.Provider != "azure" || az.Kind != KindCapacity || az.Quantity != 32 || az.Unit != UnitGPU ||
		az.Scope != (Scope{Region: "eastus", InstanceType: "Standard_ND96isr_H100_v5"}) ||
		!az.Start.Equal(hour("2026-11-01T00:00:00Z")) || !az.End.Equal(hour("2027-11-01T00:00:00Z")) {
		t.Errorf("Azure capacity commitment: %+v", az)
	}
	if az.CommittedPrice != 7.38 || az.PriceCurrency != "USD" {
		t.Errorf("Azure reservation price %v %q", az.CommittedPrice, az.PriceCurrency)
	}
	f, err := Load("../../deploy/commitments.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if p, cur, ok := f.Prices.OnDemand("oracle_cloud", "BM.GPU.H100.8", "NVIDIA H100 80GB HBM3"); !ok || p != 10 || cur != "USD" {
		t.Errorf("example OCI on-demand price %v %q %v", p, cur, ok)
	}
	aws, ok := byID["aws-gpu-spend-2026"]
	if !ok {
		t.Fatalf("no AWS spend commitment in %v", dump(cs))
	}
	if p, ok := aws.PricePerGPUHour("p5.48xlarge", "NVIDIA H100 80GB HBM3"); !ok || p <= 0 || aws.Currency != "USD" {
		t.Errorf("AWS spend commitment: %+v", aws)
	}
	if aws.Alerts.ProjectedShortfallPct != DefaultThresholds.ProjectedShortfallPct || aws.Alerts.MinUtilizationPct != 70 {
		t.Errorf("AWS alerts %+v: want min utilization 70 and the other defaults", aws.Alerts)
	}
	// The example's commented-out OCI usage commitment must stay valid too, for whoever uncomments it.
	data, err := os.ReadFile("../../deploy/commitments.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var uncommented []string
	for line := range strings.SplitSeq(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "  # "); ok && (strings.HasPrefix(rest, "- ") || strings.HasPrefix(rest, "  ")) {
			line = "  " + rest
		}
		uncommented = append(uncommented, line)
	}
	cs2, err := commitmentsOf(Parse("uncommented example", []byte(strings.Join(uncommented, "\n"))))
	if err != nil {
		t.Fatal(err)
	}
	if len(cs2) != len(cs)+1 || cs2[len(cs2)-1].Kind != KindUsage || cs2[len(cs2)-1].Provider != "oracle_cloud" {
		t.Errorf("uncommented example: %s", dump(cs2))
	}
}

func TestPricePerGPUHourAndScope(t *testing.T) {
	c := Commitment{RateCard: []Rate{
		{GPUModel: "H100", PricePerGPUHour: 11},
		{InstanceType: "p5.48xlarge", GPUModel: "H100", PricePerGPUHour: 10},
		{InstanceType: "p5.48xlarge", PricePerGPUHour: 12},
	}}
	for _, tc := range []struct {
		it, gm string
		want   float64
		ok     bool
	}{
		{"p5.48xlarge", "H100", 10, true}, // both named beats instance type
		{"p5.48xlarge", "H200", 12, true}, // instance type beats nothing
		{"p5.4xlarge", "H100", 11, true},  // GPU model alone
		{"p4d.24xlarge", "A100", 0, false},
	} {
		if got, ok := c.PricePerGPUHour(tc.it, tc.gm); got != tc.want || ok != tc.ok {
			t.Errorf("PricePerGPUHour(%s, %s) = %v, %v; want %v, %v", tc.it, tc.gm, got, ok, tc.want, tc.ok)
		}
	}
	s := Scope{Region: "eastus", InstanceType: "Standard_ND96isr_H100_v5"}
	if !s.Matches("sub-1", "eastus", "Standard_ND96isr_H100_v5", "H100") || s.Matches("sub-1", "westus", "Standard_ND96isr_H100_v5", "H100") {
		t.Error("Scope.Matches")
	}
	az := Commitment{Start: hour("2026-11-01T00:00:00Z"), End: hour("2027-11-01T00:00:00Z")}
	if h := az.End.Sub(az.Start).Hours(); h != 8760 || !az.Active(az.Start) || az.Active(az.End) {
		t.Errorf("Hours %v, Active(start) %v, Active(end) %v", h, az.Active(az.Start), az.Active(az.End))
	}
}
