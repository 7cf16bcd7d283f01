package commitment

import (
	"os"
	"reflect"
	"strings"
	"testing"
)

const pricedFile = `currency: USD
prices:
  - {provider: oracle_cloud, price_per_gpu_hour: 9}
  - {provider: oracle_cloud, gpu_model: H100, price_per_gpu_hour: 10}
  - {provider: aws, instance_type: p5.48xlarge, price_per_gpu_hour: 12.29}
  - {provider: aws, instance_type: p5.48xlarge, gpu_model: H100, price_per_gpu_hour: 11.5, currency: USD}
commitments:
  - {id: cap, provider: azure, kind: capacity, quantity: 8, price_per_gpu_hour: 6.5, term: {start: 2026-11-01, end: 2027-11-01}}
  - {id: use, provider: azure, kind: usage, quantity: 100, term: {start: 2026-11-01, end: 2027-11-01}}
`

func TestParsePrices(t *testing.T) {
	f, err := Parse("p.yaml", []byte(pricedFile))
	if err != nil {
		t.Fatal(err)
	}
	if f.Currency != "USD" || len(f.Commitments) != 2 || len(f.Prices) != 4 {
		t.Fatalf("file %+v", f)
	}
	if c := f.Commitments[0]; c.CommittedPrice != 6.5 || c.PriceCurrency != "USD" || c.Currency != "" {
		t.Errorf("capacity price %v %q (currency %q)", c.CommittedPrice, c.PriceCurrency, c.Currency)
	}
	if c := f.Commitments[1]; c.CommittedPrice != 0 || c.PriceCurrency != "" {
		t.Errorf("unpriced usage commitment has price %v %q", c.CommittedPrice, c.PriceCurrency)
	}
	want := Price{Provider: "aws", InstanceType: "p5.48xlarge", GPUModel: "H100", PricePerGPUHour: 11.5, Currency: "USD"}
	if !reflect.DeepEqual(f.Prices[3], want) {
		t.Errorf("prices[3] = %+v, want %+v", f.Prices[3], want)
	}
	for _, tt := range []struct {
		provider, it, gm string
		price            float64
		ok               bool
	}{
		{"oracle_cloud", "BM.GPU.H100.8", "H100", 10, true}, // the GPU model beats the provider-wide line
		{"oracle_cloud", "BM.GPU.A100", "A100", 9, true},    // the provider-wide line
		{"aws", "p5.48xlarge", "H100", 11.5, true},          // both named beats the instance type
		{"aws", "p5.48xlarge", "H200", 12.29, true},
		{"aws", "p4d.24xlarge", "A100", 0, false},
		{"gcp", "a3-highgpu-8g", "H100", 0, false},
	} {
		price, cur, ok := f.Prices.OnDemand(tt.provider, tt.it, tt.gm)
		if price != tt.price || ok != tt.ok || (ok && cur != "USD") {
			t.Errorf("OnDemand(%s, %s, %s) = %v %q %v, want %v %v", tt.provider, tt.it, tt.gm, price, cur, ok, tt.price, tt.ok)
		}
	}
}

func TestParsePriceProblems(t *testing.T) {
	_, err := Parse("p.yaml", []byte(`prices:
  - {provider: AWS, instance_type: p5.48xlarge, price_per_gpu_hour: 12}
  - {provider: aws, price_per_gpu_hour: -1, currency: EUR}
  - {provider: aws, price_per_gpu_hour: 2, currency: USD}
  - {provider: aws, price_per_gpu_hour: 3, currency: USD}
  - {provider: gcp, gpu_modle: H100, price_per_gpu_hour: 3, currency: EUR}
  - {gpu_model: H100, price_per_gpu_hour: x, currency: usd}
  - 5
commitments:
  - {id: s, provider: aws, kind: spend, quantity: 5, unit: USD, price_per_gpu_hour: 3, term: {start: 2026-01-01, end: 2027-01-01}, rate_card: [{gpu_model: g, price_per_gpu_hour: 1}]}
  - {id: c, provider: aws, kind: capacity, quantity: 5, price_per_gpu_hour: 3, term: {start: 2026-01-01, end: 2027-01-01}}
`))
	want := []string{
		`p.yaml:2: prices[0].provider: "AWS": provider values are lower-case words: write aws`,
		`p.yaml:2: prices[0].currency: missing: set currency here or the file's currency (e.g. currency: USD)`,
		`p.yaml:3: prices[1].price_per_gpu_hour: -1: must be more than 0`,
		`p.yaml:4: prices[2].currency: USD: every price of a file is in one currency, and the price at line 3 is in EUR`,
		`p.yaml:4: prices[2]: same provider, instance_type and gpu_model as prices[1] (line 3)`,
		`p.yaml:5: prices[3].currency: USD: every price of a file is in one currency, and the price at line 3 is in EUR`,
		`p.yaml:5: prices[3]: same provider, instance_type and gpu_model as prices[1] (line 3)`,
		`p.yaml:6: prices[4].gpu_modle: unknown field (did you mean gpu_model?)`,
		`p.yaml:7: prices[5].provider: missing: the OpenTelemetry cloud.provider value this price is charged by`,
		`p.yaml:7: prices[5].price_per_gpu_hour: want a number, got "x"`,
		`p.yaml:7: prices[5].currency: "usd": currency codes are upper-case (ISO 4217): write USD`,
		`p.yaml:8: prices[6]: want {provider, instance_type and/or gpu_model (optional), price_per_gpu_hour, currency (optional)}, got 5`,
		`p.yaml:10: commitments[0] (id s): price_per_gpu_hour: a spend commitment prices its GPU-hours with its rate_card`,
		`p.yaml:11: commitments[1] (id c): price_per_gpu_hour: in which currency? set the file's currency (e.g. currency: USD)`,
	}
	if err == nil {
		t.Fatal("no error")
	}
	got := strings.Split(err.Error(), "\n")
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// The demo's commitments (deploy/local/demo.sh fills in the term) parse, with prices for the money figures.
func TestDemoFileParses(t *testing.T) {
	f := parseDemoFile(t)
	if _, _, ok := f.Prices.OnDemand("oracle_cloud", "BM.GPU.H100.8", "NVIDIA H100 80GB HBM3"); !ok || len(f.Commitments) == 0 ||
		f.Commitments[0].CommittedPrice <= 0 {
		t.Errorf("demo file without the prices the demo's money needs: %+v", f)
	}
	// The ROFR section prices by provider and GPU model only.
	if _, _, ok := f.Prices.OnDemand("oracle_cloud", "", "NVIDIA H100 80GB HBM3"); !ok {
		t.Errorf("demo file without a GPU-model price for the ROFR section: %+v", f.Prices)
	}
}

// parseDemoFile parses the demo's commitments with the times deploy/local/demo.sh fills in.
func parseDemoFile(t *testing.T) File {
	t.Helper()
	data, err := os.ReadFile("../../deploy/local/demo-commitments.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s := strings.NewReplacer("@ASKED@", "2026-10-30T00:00:00Z", "@ANSWERED@", "2026-10-30T12:00:00Z",
		"@START@", "2026-11-01T00:00:00Z", "@REQ_END@", "2026-11-03T18:00:00Z", "@END@", "2026-12-01T00:00:00Z").Replace(string(data))
	f, err := Parse("demo-commitments.yaml", []byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return f
}
