package provider

import (
	"regexp"
	"strings"
)

// Well-known node labels set by the clouds' controllers. The legacy beta
// labels are still the only ones on clusters that predate Kubernetes 1.17.
const (
	LabelRegion             = "topology.kubernetes.io/region"
	LabelZone               = "topology.kubernetes.io/zone"
	LabelInstanceType       = "node.kubernetes.io/instance-type"
	LabelRegionLegacy       = "failure-domain.beta.kubernetes.io/region"
	LabelZoneLegacy         = "failure-domain.beta.kubernetes.io/zone"
	LabelInstanceTypeLegacy = "beta.kubernetes.io/instance-type"
)

// labelHints name a provider from label prefixes that only its managed
// Kubernetes service sets, for nodes whose providerID is empty (for example
// while the cloud controller has not initialised them yet).
var labelHints = []struct{ prefix, provider string }{
	{"kubernetes.azure.com/", Azure},
	{"eks.amazonaws.com/", AWS},
	{"karpenter.k8s.aws/", AWS},
	{"cloud.google.com/", GCP},
	{"oci.oraclecloud.com/", OracleCloud},
}

// FromNode derives Info from a Kubernetes node's spec.providerID and labels.
// Labels win over what the providerID implies for region, zone and instance
// type because the cloud controller sets them from the cloud's API; the
// providerID fills what labels leave out. ok is false when neither names a
// provider; the Info then still carries whatever the labels said.
func FromNode(providerID string, labels map[string]string) (Info, bool) {
	info, ociRegionKey := parseProviderID(strings.TrimSpace(providerID))
	if info.Provider == "" {
		info.Provider = providerFromLabels(labels)
	}
	info = info.Merge(Info{
		Region:       firstLabel(labels, LabelRegion, LabelRegionLegacy),
		Zone:         firstLabel(labels, LabelZone, LabelZoneLegacy),
		InstanceType: firstLabel(labels, LabelInstanceType, LabelInstanceTypeLegacy),
	})
	info = Normalize(info)

	switch info.Provider {
	case AWS:
		if info.Region == "" {
			info.Region = awsRegionFromZone(info.Zone)
		}
	case GCP:
		if info.Region == "" {
			info.Region = gcpRegionFromZone(info.Zone)
		}
	case OracleCloud:
		if info.Region == "" {
			info.Region = ociRegionKey
		}
		info.Region = ociCanonicalRegion(info.Region)
	}
	return info, info.Provider != Unknown
}

// parseProviderID understands the providerID forms of the clouds' controllers.
// Unknown schemes still name a provider (kind, openstack, ...) since that is
// better than "unknown" in a report. The second result is the region key an
// OCI ocid carries.
func parseProviderID(id string) (Info, string) {
	scheme, rest, ok := strings.Cut(id, "://")
	if !ok || scheme == "" {
		return Info{}, ""
	}
	scheme = strings.ToLower(scheme)
	segs := pathSegments(rest)

	switch scheme {
	case "azure":
		return parseAzureID(segs), ""
	case "aws":
		// aws:///<zone>/<instance-id>; Fargate adds segments in between.
		info := Info{Provider: AWS}
		switch len(segs) {
		case 0:
		case 1:
			info.InstanceID = segs[0]
		default:
			info.Zone, info.InstanceID = segs[0], segs[len(segs)-1]
		}
		return info, ""
	case "gce":
		// gce://<project>/<zone>/<name>
		info := Info{Provider: GCP}
		if len(segs) == 3 {
			info.Account, info.Zone, info.InstanceID = segs[0], segs[1], segs[2]
		}
		return info, ""
	case "oci":
		// oci://ocid1.instance.oc1.<region-key>.<unique-id>
		info := Info{Provider: OracleCloud}
		if len(segs) == 0 {
			return info, ""
		}
		info.InstanceID = segs[len(segs)-1]
		parts := strings.Split(info.InstanceID, ".")
		if len(parts) >= 5 && parts[0] == "ocid1" {
			return info, parts[3]
		}
		return info, ""
	default:
		info := Info{Provider: scheme}
		if len(segs) > 0 {
			info.InstanceID = segs[len(segs)-1]
		}
		return info, ""
	}
}

// parseAzureID reads an ARM resource ID. AKS writes resource type names in
// varying case, so keys are matched case-insensitively. A scale set instance
// is named <scale-set>_<n> as ARM names it.
func parseAzureID(segs []string) Info {
	info := Info{Provider: Azure}
	var vm, scaleSet string
	for k := 0; k+1 < len(segs); k += 2 {
		switch strings.ToLower(segs[k]) {
		case "subscriptions":
			info.Account = segs[k+1]
		case "virtualmachinescalesets":
			scaleSet = segs[k+1]
		case "virtualmachines":
			vm = segs[k+1]
		}
	}
	info.InstanceID = vm
	if scaleSet != "" && vm != "" {
		info.InstanceID = scaleSet + "_" + vm
	}
	return info
}

func pathSegments(p string) []string {
	var segs []string
	for s := range strings.SplitSeq(p, "/") {
		if s != "" {
			segs = append(segs, s)
		}
	}
	return segs
}

func firstLabel(labels map[string]string, keys ...string) string {
	for _, k := range keys {
		if v := strings.TrimSpace(labels[k]); v != "" {
			return v
		}
	}
	return ""
}

func providerFromLabels(labels map[string]string) string {
	for _, h := range labelHints {
		for k := range labels {
			if strings.HasPrefix(k, h.prefix) {
				return h.provider
			}
		}
	}
	return ""
}

// awsZoneRegion matches the region at the start of every AWS zone name:
// us-east-1a, us-west-2-lax-1a (Local Zone), us-east-1-wl1-bos-wlz-1
// (Wavelength), us-gov-west-1a, us-isob-east-1a.
var awsZoneRegion = regexp.MustCompile(`^[a-z]{2}(?:-gov|-iso[a-z]?)?-[a-z]+-[0-9]+`)

func awsRegionFromZone(zone string) string {
	return awsZoneRegion.FindString(zone)
}

// gcpRegionFromZone drops the zone letter: us-central1-a -> us-central1.
func gcpRegionFromZone(zone string) string {
	if i := strings.LastIndexByte(zone, '-'); i > 0 {
		return zone[:i]
	}
	return ""
}

// ociRegionKeys maps the short region keys found in ocids and in OKE's
// region labels to the canonical region names that instance metadata
// reports, so that both sources put a node in the same region. Newer regions
// use the canonical name in ocids, which passes through unchanged.
var ociRegionKeys = map[string]string{
	"iad": "us-ashburn-1",
	"phx": "us-phoenix-1",
	"sjc": "us-sanjose-1",
	"ord": "us-chicago-1",
	"yyz": "ca-toronto-1",
	"yul": "ca-montreal-1",
	"gru": "sa-saopaulo-1",
	"vcp": "sa-vinhedo-1",
	"scl": "sa-santiago-1",
	"lhr": "uk-london-1",
	"cwl": "uk-cardiff-1",
	"fra": "eu-frankfurt-1",
	"ams": "eu-amsterdam-1",
	"zrh": "eu-zurich-1",
	"cdg": "eu-paris-1",
	"mrs": "eu-marseille-1",
	"lin": "eu-milan-1",
	"arn": "eu-stockholm-1",
	"mad": "eu-madrid-1",
	"nrt": "ap-tokyo-1",
	"kix": "ap-osaka-1",
	"icn": "ap-seoul-1",
	"yny": "ap-chuncheon-1",
	"bom": "ap-mumbai-1",
	"hyd": "ap-hyderabad-1",
	"syd": "ap-sydney-1",
	"mel": "ap-melbourne-1",
	"sin": "ap-singapore-1",
	"jed": "me-jeddah-1",
	"dxb": "me-dubai-1",
	"auh": "me-abudhabi-1",
	"mtz": "il-jerusalem-1",
	"jnb": "af-johannesburg-1",
	"qro": "mx-queretaro-1",
	"mty": "mx-monterrey-1",
}

func ociCanonicalRegion(region string) string {
	if canon, ok := ociRegionKeys[strings.ToLower(region)]; ok {
		return canon
	}
	return region
}
