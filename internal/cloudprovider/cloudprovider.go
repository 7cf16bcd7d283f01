// Package cloudprovider is the one table of the clouds gpumeter knows by name: the value records carry (OpenTelemetry
// cloud.provider), the other spellings people and tools write for it, its FOCUS names, the name people read and its
// chart colour. The agent normalizes what it detects with it, the commitments parser checks provider fields against
// it, the FOCUS export names providers from it and the report's charts colour them by it.
//
// Providers outside the table are allowed: any lower-case word (coreweave, on_prem) is a provider value, named by
// itself. Where a person types the value (the agent's --provider), [Check] holds it to the table, its spellings and
// [Extra], suggests the closest for a typo, and lets a new provider through with the [UnlistedPrefix] escape.
package cloudprovider

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/gpumeter/gpumeter/internal/spelling"
)

// The OpenTelemetry cloud.provider values of the table, and the value for usage nobody could attribute.
const (
	Azure        = "azure"
	AWS          = "aws"
	GCP          = "gcp"
	OracleCloud  = "oracle_cloud"
	IBMCloud     = "ibm_cloud"
	AlibabaCloud = "alibaba_cloud"
	TencentCloud = "tencent_cloud"
	Unknown      = "unknown"
)

// Provider is one row of the table.
type Provider struct {
	ID            string   // the value records carry: OpenTelemetry's cloud.provider where it has one
	OpenTelemetry bool     // ID is one of OpenTelemetry's cloud.provider values
	Spellings     []string // other names for it (Kubernetes providerID schemes, product names), in Key's form
	FOCUSName     string   // FOCUS ProviderName, PublisherName, InvoiceIssuerName (and ServiceProviderName)
	ServiceName   string   // FOCUS ServiceName: the provider's own name for the service that sells GPU machines
	DisplayName   string   // the short name people read in charts
	Color         string   // chart colour; "" takes one of Palette
}

// Table is every provider known by name: OpenTelemetry's cloud.provider values first (schema/README.md, the record's
// provider field), then other clouds whose names people read.
var Table = []Provider{
	{ID: Azure, OpenTelemetry: true, Spellings: []string{"microsoft", "microsoft_azure", "az"}, FOCUSName: "Microsoft Azure",
		ServiceName: "Virtual Machines", DisplayName: "Azure", Color: "#0078d4"},
	{ID: AWS, OpenTelemetry: true, Spellings: []string{"amazon", "ec2", "amazon_web_services"}, FOCUSName: "Amazon Web Services",
		ServiceName: "Amazon Elastic Compute Cloud", DisplayName: "AWS", Color: "#ff9900"},
	{ID: GCP, OpenTelemetry: true, Spellings: []string{"google", "gce", "google_cloud", "googlecloud"}, FOCUSName: "Google Cloud",
		ServiceName: "Compute Engine", DisplayName: "Google Cloud", Color: "#34a853"},
	{ID: OracleCloud, OpenTelemetry: true, Spellings: []string{"oci", "oracle", "oraclecloud"}, FOCUSName: "Oracle Cloud Infrastructure",
		ServiceName: "Compute", DisplayName: "OCI", Color: "#c74634"},
	{ID: IBMCloud, OpenTelemetry: true, Spellings: []string{"ibm", "ibmcloud"}, FOCUSName: "IBM Cloud", ServiceName: "Virtual Servers",
		DisplayName: "IBM Cloud"},
	{ID: AlibabaCloud, OpenTelemetry: true, Spellings: []string{"alibaba", "alicloud", "aliyun"}, FOCUSName: "Alibaba Cloud",
		ServiceName: "Elastic Compute Service", DisplayName: "Alibaba Cloud"},
	{ID: TencentCloud, OpenTelemetry: true, Spellings: []string{"tencent", "tencentcloud", "qcloud"}, FOCUSName: "Tencent Cloud",
		ServiceName: "Cloud Virtual Machine", DisplayName: "Tencent Cloud"},
	{ID: "coreweave", FOCUSName: "CoreWeave", ServiceName: "Compute", DisplayName: "CoreWeave", Color: "#6d4fc2"},
}

// Extra are the provider values outside the table that Check accepts as they are: machines of your own.
var Extra = []string{"on_prem"}

// UnlistedPrefix lets a provider the table does not know through Check: --provider=unlisted:lambda_labs records
// lambda_labs. It is the documented escape for new providers (schema/README.md, the record's provider field).
const UnlistedPrefix = "unlisted:"

var word = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

// Check returns the provider value for s as a person typed it: a value of the table, one of its spellings (returned
// as the table's value), one of Extra, or UnlistedPrefix and a lower-case word. Anything else is an error that names
// the closest known value when s looks like a typo of one.
func Check(s string) (string, error) {
	if name, ok := strings.CutPrefix(s, UnlistedPrefix); ok {
		if !word.MatchString(name) {
			return "", fmt.Errorf("%q: after %s write a lower-case word (letters, digits, _), e.g. %slambda_labs", s, UnlistedPrefix, UnlistedPrefix)
		}
		return name, nil
	}
	k := Key(s)
	if _, ok := byID[k]; ok || slices.Contains(Extra, k) {
		return k, nil
	}
	if id, ok := bySpelling[k]; ok {
		return id, nil
	}
	known := KnownValues()
	if best, ok := spelling.Closest(k, append(slices.Clone(known), spellings()...)); ok {
		if id, isSpelling := bySpelling[best]; isSpelling {
			best = id
		}
		return "", fmt.Errorf("%q is not a known provider: did you mean %s? (known: %s; a provider not in the list: %s%s)",
			s, best, strings.Join(known, ", "), UnlistedPrefix, k)
	}
	return "", fmt.Errorf("%q is not a known provider (known: %s); a provider not in the list: %s%s",
		s, strings.Join(known, ", "), UnlistedPrefix, k)
}

// KnownValues is every value Check accepts without the escape: the table's, then Extra.
func KnownValues() []string {
	var out []string
	for _, p := range Table {
		out = append(out, p.ID)
	}
	return append(out, Extra...)
}

func spellings() []string {
	var out []string
	for _, p := range Table {
		out = append(out, p.Spellings...)
	}
	return out
}

// Palette colours the providers without a colour of their own, in the order they are met.
var Palette = []string{"#0d9488", "#db2777", "#65a30d", "#7c3aed", "#ca8a04", "#475569", "#0891b2", "#e11d48"}

var (
	byID       = map[string]*Provider{}
	bySpelling = map[string]string{}
)

func init() {
	for i := range Table {
		p := &Table[i]
		byID[p.ID] = p
		for _, s := range p.Spellings {
			bySpelling[s] = p.ID
		}
	}
}

// Key is s as provider values are written: trimmed, lower-case, dashes and spaces as underscores.
func Key(s string) string {
	return strings.NewReplacer("-", "_", " ", "_").Replace(strings.ToLower(strings.TrimSpace(s)))
}

// Lookup returns the table's row for a provider value.
func Lookup(id string) (Provider, bool) {
	if p, ok := byID[id]; ok {
		return *p, true
	}
	return Provider{}, false
}

// Respelled returns the provider value that s is another spelling of ("OCI" → oracle_cloud), and false when s (in
// Key's form) is not one of the table's spellings.
func Respelled(s string) (string, bool) {
	id, ok := bySpelling[Key(s)]
	return id, ok
}

// OpenTelemetryValues is the table's OpenTelemetry cloud.provider values, in its order.
func OpenTelemetryValues() []string {
	var out []string
	for _, p := range Table {
		if p.OpenTelemetry {
			out = append(out, p.ID)
		}
	}
	return out
}

// FOCUSName is the provider's FOCUS name; a provider outside the table is named by its value.
func FOCUSName(id string) string {
	if p, ok := byID[id]; ok {
		return p.FOCUSName
	}
	return id
}

// DisplayName is the short name people read for a provider; a provider outside the table is shown by its value.
func DisplayName(id string) string {
	if p, ok := byID[id]; ok {
		return p.DisplayName
	}
	return id
}

// ServiceName is the FOCUS ServiceName of the provider's GPU machines; "Compute" outside the table.
func ServiceName(id string) string {
	if p, ok := byID[id]; ok && p.ServiceName != "" {
		return p.ServiceName
	}
	return "Compute"
}

// Colors gives each provider its chart colour: its own where the table has one, else the next of Palette in the
// order given.
func Colors(ids []string) map[string]string {
	out := make(map[string]string, len(ids))
	i := 0
	for _, id := range ids {
		if p, ok := byID[id]; ok && p.Color != "" {
			out[id] = p.Color
			continue
		}
		out[id] = Palette[i%len(Palette)]
		i++
	}
	return out
}
