package cloudprovider

import (
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"
)

// Every spelling names one provider, no spelling is a provider value itself, and each row is complete.
func TestTable(t *testing.T) {
	seen := map[string]string{}
	for _, p := range Table {
		if p.ID != Key(p.ID) || p.FOCUSName == "" || p.ServiceName == "" || p.DisplayName == "" {
			t.Errorf("row %+v: id not in Key form, or a name missing", p)
		}
		for _, s := range p.Spellings {
			if s != Key(s) {
				t.Errorf("%s: spelling %q is not in Key form", p.ID, s)
			}
			if other, dup := seen[s]; dup {
				t.Errorf("spelling %q names both %s and %s", s, other, p.ID)
			}
			if _, isID := byID[s]; isID {
				t.Errorf("spelling %q of %s is a provider value", s, p.ID)
			}
			seen[s] = p.ID
		}
	}
}

func TestLookups(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"OCI", OracleCloud}, {" Google-Cloud ", GCP}, {"Amazon Web Services", AWS}, {"microsoft", Azure}, {"ec2", AWS},
	} {
		if got, ok := Respelled(tc.in); !ok || got != tc.want {
			t.Errorf("Respelled(%q) = %q, %v; want %q", tc.in, got, ok, tc.want)
		}
	}
	for _, in := range []string{"azure", "coreweave", "on_prem", ""} {
		if got, ok := Respelled(in); ok {
			t.Errorf("Respelled(%q) = %q, want no other spelling", in, got)
		}
	}
	if got := FOCUSName(Azure); got != "Microsoft Azure" {
		t.Errorf("FOCUSName(azure) = %q", got)
	}
	if got := FOCUSName("on_prem"); got != "on_prem" {
		t.Errorf("FOCUSName(on_prem) = %q, want the value itself", got)
	}
	if got := ServiceName("on_prem"); got != "Compute" {
		t.Errorf("ServiceName(on_prem) = %q", got)
	}
	if got := DisplayName(OracleCloud); got != "OCI" {
		t.Errorf("DisplayName(oracle_cloud) = %q", got)
	}
	if got := OpenTelemetryValues(); !slices.Equal(got, []string{Azure, AWS, GCP, OracleCloud, IBMCloud, AlibabaCloud, TencentCloud}) {
		t.Errorf("OpenTelemetryValues() = %v", got)
	}
	c := Colors([]string{"on_prem", Azure, "lambda"})
	if c[Azure] != "#0078d4" || c["on_prem"] != Palette[0] || c["lambda"] != Palette[1] {
		t.Errorf("Colors = %v", c)
	}
}

func TestCheck(t *testing.T) {
	for _, tc := range []struct{ in, want, errHas string }{
		{in: "azure", want: "azure"},
		{in: "Azure", want: "azure"},
		{in: "OCI", want: "oracle_cloud"},
		{in: "coreweave", want: "coreweave"},
		{in: "on_prem", want: "on_prem"},
		{in: "on-prem", want: "on_prem"},
		{in: "unlisted:lambda_labs", want: "lambda_labs"},
		{in: "azur", errHas: "did you mean azure?"},
		{in: "amazn", errHas: "did you mean aws?"},
		{in: "orcale_cloud", errHas: "did you mean oracle_cloud?"},
		{in: "lambda", errHas: "unlisted:lambda"},
		{in: "unlisted:Lambda Labs", errHas: "lower-case word"},
		{in: "", errHas: "not a known provider"},
	} {
		got, err := Check(tc.in)
		if tc.errHas != "" {
			if err == nil || !strings.Contains(err.Error(), tc.errHas) {
				t.Errorf("Check(%q) = %q, %v; want an error with %q", tc.in, got, err, tc.errHas)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("Check(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

// The chart's values.schema.json accepts for agent.provider what Check accepts: the table, Extra, the escape.
func TestChartSchemaProviders(t *testing.T) {
	raw, err := os.ReadFile("../../deploy/helm/gpumeter/values.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	var schema struct {
		Properties struct {
			Agent struct {
				Properties struct {
					Provider struct {
						Pattern string `json:"pattern"`
					} `json:"provider"`
				} `json:"properties"`
			} `json:"agent"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(raw, &schema); err != nil {
		t.Fatal(err)
	}
	want := "^(|" + strings.Join(KnownValues(), "|") + "|" + UnlistedPrefix + "[a-z][a-z0-9_]*)$"
	if got := schema.Properties.Agent.Properties.Provider.Pattern; got != want {
		t.Errorf("values.schema.json agent.provider pattern\n %s\nwant\n %s", got, want)
	}
}
