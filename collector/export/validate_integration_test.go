//go:build integration

package export

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gpumeter/gpumeter/collector/commitment"
)

// validatorVersion is the newest FOCUS version the pinned focus-validator (deploy/local/focus-validator.txt) has
// rules for; the export's 1.2 and 1.3 files are checked against them (README.md, "FOCUS export").
const validatorVersion = "1.0"

// junit is the part of focus-validator's unittest (JUnit XML) report the test reads.
type junit struct {
	Suites []struct {
		Name  string `xml:"name,attr"`
		Cases []struct {
			Name    string `xml:"name,attr"`
			Failure *struct {
				Message string `xml:"message,attr"`
			} `xml:"failure"`
			Error *struct {
				Message string `xml:"message,attr"`
			} `xml:"error"`
			Skipped *struct {
				Message string `xml:"message,attr"`
			} `xml:"skipped"`
		} `xml:"testcase"`
	} `xml:"testsuite"`
}

// validator is the focus-validator that deploy/local/focus-validator.sh installs (make test does).
func validator(t *testing.T) string {
	t.Helper()
	bin := os.Getenv("GPUMETER_TEST_FOCUS_VALIDATOR")
	if bin == "" {
		repo, err := filepath.Abs("../..")
		if err != nil {
			t.Fatal(err)
		}
		bin = filepath.Join(repo, ".local", "focus-validator", "bin", "focus-validator")
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("no focus-validator at %s (%v): run deploy/local/focus-validator.sh install (make test does)", bin, err)
	}
	return bin
}

// validate runs focus-validator on a CSV export and fails the test for every rule that fails; it returns the number
// of rules checked.
func validate(t *testing.T, csvData []byte) int {
	t.Helper()
	checked, failed := runValidator(t, csvData)
	for _, f := range failed {
		t.Errorf("FOCUS rule %s", f)
	}
	if checked == 0 {
		t.Fatal("focus-validator checked no rule")
	}
	return checked
}

// runValidator runs focus-validator on a CSV file and returns the number of rules that passed and a line for each
// that failed or errored.
func runValidator(t *testing.T, csvData []byte) (checked int, failed []string) {
	t.Helper()
	dir := t.TempDir()
	data, report := filepath.Join(dir, "focus.csv"), filepath.Join(dir, "report.xml")
	if err := os.WriteFile(data, csvData, 0o644); err != nil {
		t.Fatal(err)
	}
	bin := validator(t)
	overrides, err := filepath.Abs(filepath.Join("testdata", "focus-validator-overrides.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(t.Context(), bin, "--data-file", data, "--validate-version", validatorVersion,
		"--override-file", overrides, "--output-type", "unittest", "--output-destination", report)
	// The validator reads its currency codes from a path relative to the working directory: its site-packages.
	site, _ := filepath.Glob(filepath.Join(filepath.Dir(filepath.Dir(bin)), "lib", "python*", "site-packages"))
	if len(site) != 1 {
		t.Fatalf("no site-packages beside %s: %v", bin, site)
	}
	cmd.Dir = site[0]
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("focus-validator: %v\n%s", err, out)
	}
	b, err := os.ReadFile(report)
	if err != nil {
		t.Fatalf("focus-validator wrote no report: %v\n%s", err, out)
	}
	var rep junit
	if err := xml.Unmarshal(b, &rep); err != nil {
		t.Fatalf("focus-validator report: %v\n%s", err, b)
	}
	// The validator runs a data-type rule even when the override file skips it (and then reports it failed): such a
	// rule is skipped here.
	ov, err := os.ReadFile(overrides)
	if err != nil {
		t.Fatal(err)
	}
	skip := map[string]bool{}
	for _, line := range strings.Split(string(ov), "\n") {
		if id, ok := strings.CutPrefix(strings.TrimSpace(line), "- "); ok {
			skip[id] = true
		}
	}
	for _, s := range rep.Suites {
		for _, c := range s.Cases {
			switch {
			case c.Failure != nil && skip[strings.Fields(c.Name)[0]]:
				t.Logf("FOCUS rule %s skipped (overrides): %s", c.Name, c.Failure.Message)
			case c.Failure != nil:
				failed = append(failed, fmt.Sprintf("%s failed: %s", c.Name, c.Failure.Message))
			case c.Error != nil:
				failed = append(failed, fmt.Sprintf("%s errored: %s", c.Name, c.Error.Message))
			case c.Skipped != nil:
				t.Logf("FOCUS rule %s %s skipped: %s", s.Name, c.Name, c.Skipped.Message)
			default:
				checked++
			}
		}
	}
	return checked, failed
}

// TestFOCUSValidates exports the scenario (usage covered by a reservation, a usage commitment and a spend commitment,
// uncovered usage, unused rows of each kind) in FOCUS 1.2 and 1.3 and runs the FinOps Foundation's validator on both.
func TestFOCUSValidates(t *testing.T) {
	st := loadScenario(t, commitment.Commitment{ID: "usage-oci", Name: "OCI usage commitment", Provider: "oracle_cloud",
		Kind: commitment.KindUsage, Quantity: 12, Unit: commitment.UnitGPUHour, Start: at(0), End: at(6),
		Alerts: commitment.DefaultThresholds})
	for _, version := range []string{Version12, Version13} {
		t.Run(version, func(t *testing.T) {
			var buf bytes.Buffer
			n, err := FOCUS(t.Context(), st.Conn(), st.Database(), Options{From: at(0), To: at(6), Format: FormatCSV,
				Version: version, BillingAccounts: map[string]string{"aws": "111122223333"}}, &buf)
			if err != nil {
				t.Fatal(err)
			}
			kinds := map[string]bool{}
			for _, line := range strings.Split(buf.String(), "\n") {
				for _, k := range []string{",Used,", ",Unused,", "Usage Commitment", "Capacity Reservation", "Spend Commitment", ",Standard,"} {
					kinds[k] = kinds[k] || strings.Contains(line, k)
				}
			}
			if len(kinds) != 6 || n < 10 {
				t.Fatalf("%d rows; the scenario lacks some kind of row: %v", n, kinds)
			}
			for k, ok := range kinds {
				if !ok {
					t.Fatalf("the export has no %q row", k)
				}
			}
			rules := validate(t, buf.Bytes())
			t.Logf("FOCUS %s export: %d rows pass %d focus-validator rules of FOCUS %s", version, n, rules, validatorVersion)
		})
	}
}

// TestFOCUSValidatorFailsABrokenExport proves the check is not vacuous: the same export with BillingAccountId emptied
// on one row, and with a PricingCategory outside the allowed values, fails those rules.
func TestFOCUSValidatorFailsABrokenExport(t *testing.T) {
	st := loadScenario(t)
	var buf bytes.Buffer
	if _, err := FOCUS(t.Context(), st.Conn(), st.Database(), Options{From: at(0), To: at(6), Format: FormatCSV}, &buf); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	account, pricing := slices.Index(recs[0], "BillingAccountId"), slices.Index(recs[0], "PricingCategory")
	recs[1][account] = ""
	recs[2][pricing] = "On-Demand"
	var broken bytes.Buffer
	w := csv.NewWriter(&broken)
	if err := w.WriteAll(recs); err != nil {
		t.Fatal(err)
	}
	_, failed := runValidator(t, broken.Bytes())
	for _, rule := range []string{"BillingAccountId_NotNull", "PricingCategory_Enum"} {
		if !slices.ContainsFunc(failed, func(f string) bool { return strings.HasPrefix(f, rule) }) {
			t.Errorf("rule %s did not fail on the broken export; failures: %v", rule, failed)
		}
	}
}

// TestFOCUS13 checks what 1.3 adds: the provider columns, ContractApplied on covered rows, and the ContractCommitment
// dataset with one row per commitment that agrees with them.
func TestFOCUS13(t *testing.T) {
	st := loadScenario(t)
	recs, _ := export(t, st, Options{From: at(0), To: at(6), Version: Version13,
		BillingAccounts: map[string]string{"aws": "111122223333"}})
	col := map[string]int{}
	for i, c := range recs[0] {
		col[c] = i
	}
	applied := map[string]int{}
	for _, rec := range recs[1:] {
		r := csvRow(rec)
		// The billing account given for aws; the stand-in (the provider value) for the others.
		want := map[string]string{"Amazon Web Services": "111122223333", "Microsoft Azure": "azure", "Oracle Cloud Infrastructure": "oracle_cloud"}[r[col["ProviderName"]]]
		if r[col["BillingAccountId"]] != want || r[col["BillingAccountName"]] != want {
			t.Errorf("%s row: billing account %q/%q, want %q", r[col["ProviderName"]], r[col["BillingAccountId"]], r[col["BillingAccountName"]], want)
		}
		if r[col["ServiceProviderName"]] != r[col["ProviderName"]] || r[col["HostProviderName"]] == "" {
			t.Errorf("row %v: ServiceProviderName/HostProviderName", r)
		}
		id, ca := r[col["CommitmentDiscountId"]], r[col["ContractApplied"]]
		if r[col["CommitmentDiscountStatus"]] != "Used" {
			if ca != "" {
				t.Errorf("ContractApplied %s on a row no commitment covers", ca)
			}
			continue
		}
		var v struct{ Elements []map[string]any }
		if err := json.Unmarshal([]byte(ca), &v); err != nil || len(v.Elements) != 1 ||
			v.Elements[0]["ContractId"] != id || v.Elements[0]["ContractCommitmentId"] != id {
			t.Fatalf("row of %s: ContractApplied %q (%v)", id, ca, err)
		}
		e := v.Elements[0]
		if r[col["CommitmentDiscountCategory"]] == "Spend" {
			if e["ContractCommitmentAppliedCost"] != r.num(t, col["EffectiveCost"]) || e["ContractCommitmentAppliedQuantity"] != nil {
				t.Errorf("spend row ContractApplied %s, EffectiveCost %s", ca, r[col["EffectiveCost"]])
			}
		} else if e["ContractCommitmentAppliedQuantity"] != r.num(t, col["ConsumedQuantity"]) || e["ContractCommitmentAppliedUnit"] != UnitGPUHours {
			t.Errorf("row ContractApplied %s, ConsumedQuantity %s", ca, r[col["ConsumedQuantity"]])
		}
		applied[id]++
	}
	if applied["cap-east"] == 0 || applied["spend-aws"] == 0 {
		t.Errorf("ContractApplied on %v, want both commitments", applied)
	}

	cc, lines := export(t, st, Options{From: at(0), To: at(6), Version: Version13, Dataset: DatasetContractCommitment})
	if len(cc) != 3 || len(lines) != 2 {
		t.Fatalf("ContractCommitment: %v, want the 2 commitments", cc)
	}
	want := map[string][]string{ // id: category, quantity, unit, cost
		"cap-east":  {"Usage", "24", "GPU-Hours", ""},
		"spend-aws": {"Spend", "", "", "1000"},
	}
	for _, r := range cc[1:] {
		got := map[string]string{}
		for i, c := range cc[0] {
			got[c] = r[i]
		}
		w := want[got["ContractCommitmentId"]]
		if w == nil || got["ContractId"] != got["ContractCommitmentId"] || got["ContractCommitmentCategory"] != w[0] ||
			got["ContractCommitmentQuantity"] != w[1] || got["ContractCommitmentUnit"] != w[2] || got["ContractCommitmentCost"] != w[3] ||
			got["ContractCommitmentPeriodStart"] != at(0).Format(time.RFC3339) || got["ContractPeriodEnd"] != at(6).Format(time.RFC3339) ||
			got["BillingCurrency"] != "USD" || got["ContractCommitmentDescription"] == "" {
			t.Errorf("ContractCommitment row %v", got)
		}
	}
	// A period outside every term has no contract rows.
	if cc, _ := export(t, st, Options{From: at(6), To: at(7), Version: Version13, Dataset: DatasetContractCommitment}); len(cc) != 1 {
		t.Errorf("after the terms: %v", cc)
	}
}

// csvRow is a CSV record whose fields read as numbers where asked.
type csvRow []string

func (r csvRow) num(t *testing.T, i int) float64 {
	t.Helper()
	v, err := strconv.ParseFloat(r[i], 64)
	if err != nil {
		t.Fatalf("%q is not a number", r[i])
	}
	return v
}
