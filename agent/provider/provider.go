// Package provider finds out where a node agent runs: which cloud, region,
// zone, instance type and account. The answer labels every usage record, and
// commitments are scoped by it, so the same machine must get the same answer
// whether it comes from flags, the Kubernetes node object or the cloud's
// instance metadata service.
package provider

import "github.com/gpumeter/gpumeter/internal/cloudprovider"

// Provider values follow OpenTelemetry's cloud.provider so that records can be
// joined with other telemetry without a mapping table (internal/cloudprovider
// holds the table).
const (
	Azure        = cloudprovider.Azure
	AWS          = cloudprovider.AWS
	GCP          = cloudprovider.GCP
	OracleCloud  = cloudprovider.OracleCloud
	IBMCloud     = cloudprovider.IBMCloud
	AlibabaCloud = cloudprovider.AlibabaCloud
	TencentCloud = cloudprovider.TencentCloud
	Unknown      = cloudprovider.Unknown
)

// Info says where a node runs. Empty fields are unknown; Provider is never
// empty after Normalize ("unknown").
type Info struct {
	Provider     string
	Region       string
	Zone         string
	InstanceType string
	Account      string
	InstanceID   string
}

// Merge returns i with every non-empty field of override applied, so that
// flags set by an operator win over what was detected without erasing what
// they leave out.
func (i Info) Merge(override Info) Info {
	set := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	set(&i.Provider, override.Provider)
	set(&i.Region, override.Region)
	set(&i.Zone, override.Zone)
	set(&i.InstanceType, override.InstanceType)
	set(&i.Account, override.Account)
	set(&i.InstanceID, override.InstanceID)
	return i
}

// Normalize returns i with Provider in its canonical form: lower-case
// snake_case, other spellings (Kubernetes providerID schemes, product names,
// flags typed by hand) mapped to the OpenTelemetry value, so that one cloud
// never shows up under two names, and "unknown" for empty, because an empty
// provider would form its own group in every report.
func Normalize(i Info) Info {
	p := cloudprovider.Key(i.Provider)
	if canon, ok := cloudprovider.Respelled(p); ok {
		p = canon
	}
	if p == "" {
		p = Unknown
	}
	i.Provider = p
	return i
}
