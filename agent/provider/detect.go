package provider

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

const (
	// Azure, OCI and AWS all serve instance metadata on this link-local
	// address; GCP's name resolves to it too but only inside GCP.
	defaultLinkLocalURL = "http://169.254.169.254"
	defaultGCPURL       = "http://metadata.google.internal"

	defaultTimeout = 2 * time.Second

	// maxBody bounds what a metadata answer may cost us: real documents are a
	// few KiB, anything far larger is not what we asked for.
	maxBody = 1 << 20

	azureAPIVersion = "2021-02-01"
	awsTokenTTL     = "21600"
)

// probeTimeoutError is the cause given to a probe's context, so that an
// error says the probe's own limit cut it rather than the caller's context.
// It still matches context.DeadlineExceeded.
type probeTimeoutError struct{ limit time.Duration }

func (e probeTimeoutError) Error() string { return fmt.Sprintf("no answer within %v", e.limit) }

func (e probeTimeoutError) Is(target error) bool { return target == context.DeadlineExceeded }

// Detector probes the instance metadata services of Azure, Oracle OCI, AWS
// and GCP in parallel with a short timeout. The zero value probes the real
// services.
type Detector struct {
	// Base URLs; empty means the real service.
	AzureURL, OracleURL, AWSURL, GCPURL string
	// Timeout bounds each probe, all of its requests together; zero means 2s.
	Timeout time.Duration
	// Client sends the probes; nil means one that never uses a proxy, since
	// a proxy cannot reach the node's own link-local metadata service.
	Client *http.Client
}

// DetectError says why no metadata service answered. Errs holds one error
// per provider, in priority order, each naming its provider.
type DetectError struct {
	Errs []error
}

func (e *DetectError) Error() string {
	msgs := make([]string, len(e.Errs))
	for i, err := range e.Errs {
		msgs[i] = err.Error()
	}
	return "no cloud metadata service answered: " + strings.Join(msgs, "; ")
}

// Unwrap lets callers match the causes, e.g. context.DeadlineExceeded.
func (e *DetectError) Unwrap() []error { return e.Errs }

// Detect returns the first provider that answers with a well-formed
// document. When several answer, the one earliest in the order azure,
// oracle_cloud, aws, gcp wins, since the ones sharing 169.254.169.254 are
// probed at one address and a server that happens to answer a foreign path
// must not outrank the real one. When none answers it returns
// Info{Provider: "unknown"} and a *DetectError naming each provider's
// failure.
func (d *Detector) Detect(ctx context.Context) (Info, error) {
	// In priority order; each probe's errors name its provider.
	probes := []func(context.Context, *http.Client) (Info, error){
		d.probeAzure, d.probeOracle, d.probeAWS, d.probeGCP,
	}
	client := d.client()
	timeout := d.timeout()

	// Cancelling stops the probes still running once the answer is known.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	type result struct {
		idx  int
		info Info
		err  error
	}
	// Buffered so that probes finishing after Detect returned do not block.
	results := make(chan result, len(probes))
	for i, probe := range probes {
		go func() {
			pctx, pcancel := context.WithTimeoutCause(ctx, timeout, probeTimeoutError{timeout})
			defer pcancel()
			info, err := probe(pctx, client)
			results <- result{i, info, err}
		}()
	}

	done := make([]bool, len(probes))
	infos := make([]Info, len(probes))
	errs := make([]error, len(probes))
	for range probes {
		r := <-results
		done[r.idx], infos[r.idx], errs[r.idx] = true, r.info, r.err
		// The best answer is final once every probe before it has failed.
		for i := range probes {
			if !done[i] {
				break
			}
			if errs[i] == nil {
				return Normalize(infos[i]), nil
			}
		}
	}
	return Info{Provider: Unknown}, &DetectError{Errs: errs}
}

func (d *Detector) timeout() time.Duration {
	if d.Timeout > 0 {
		return d.Timeout
	}
	return defaultTimeout
}

func (d *Detector) client() *http.Client {
	if d.Client != nil {
		return d.Client
	}
	return &http.Client{
		Transport: &http.Transport{
			Proxy:       nil,
			DialContext: (&net.Dialer{Timeout: d.timeout()}).DialContext,
			// Detection runs once; pooled connections would outlive it.
			DisableKeepAlives: true,
		},
		// Metadata services never redirect; following one could take a
		// probe to a server that is not the metadata service.
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

func baseURL(u, def string) string {
	if u == "" {
		u = def
	}
	return strings.TrimRight(u, "/")
}

// fetch sends one metadata request and returns the body and header of a 200
// answer; anything else is an error that says what came back.
func (d *Detector) fetch(ctx context.Context, c *http.Client, method, endpoint string, header http.Header) ([]byte, http.Header, error) {
	req, err := http.NewRequestWithContext(ctx, method, endpoint, nil)
	if err != nil {
		return nil, nil, err
	}
	for k, vs := range header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	resp, err := c.Do(req)
	if err != nil {
		// net/http usually reports the context's cause itself; a dial
		// timeout, for one, does not.
		var pt probeTimeoutError
		if cause := context.Cause(ctx); errors.As(cause, &pt) && !errors.As(err, &pt) {
			return nil, nil, fmt.Errorf("%w: %w", cause, err)
		}
		return nil, nil, err
	}
	defer resp.Body.Close()

	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return nil, nil, fmt.Errorf("%s %s: read body: %w", method, endpoint, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, nil, fmt.Errorf("%s %s: status %s%s", method, endpoint, resp.Status, snippet(body))
	}
	if len(body) > maxBody {
		return nil, nil, fmt.Errorf("%s %s: body exceeds %d bytes", method, endpoint, maxBody)
	}
	return body, resp.Header, nil
}

// snippet quotes the start of an error body on one line, because services
// explain refusals there (Azure: "Required metadata header not specified").
func snippet(body []byte) string {
	const limit = 120
	s := strings.Join(strings.Fields(string(body)), " ")
	if s == "" {
		return ""
	}
	if len(s) > limit {
		cut := limit
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "..."
	}
	return fmt.Sprintf(" (%q)", s)
}

// checkFound rejects documents that parsed but do not describe an instance,
// e.g. "{}" from some unrelated server on the same address.
func checkFound(i Info) error {
	if i.InstanceType == "" && i.Region == "" {
		return errors.New("document names neither instance type nor region")
	}
	return nil
}

// decodeJSON insists on exactly one JSON value so that a page that merely
// starts like JSON is not taken for a document.
func decodeJSON(body []byte, v any) error {
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("parse document: %w", err)
	}
	return nil
}

// https://learn.microsoft.com/azure/virtual-machines/instance-metadata-service
func (d *Detector) probeAzure(ctx context.Context, c *http.Client) (Info, error) {
	endpoint := baseURL(d.AzureURL, defaultLinkLocalURL) + "/metadata/instance?api-version=" + azureAPIVersion
	body, _, err := d.fetch(ctx, c, http.MethodGet, endpoint, http.Header{"Metadata": {"true"}})
	if err != nil {
		return Info{}, fmt.Errorf("azure metadata: %w", err)
	}
	var doc struct {
		Compute struct {
			VMSize         string `json:"vmSize"`
			Location       string `json:"location"`
			Zone           string `json:"zone"`
			SubscriptionID string `json:"subscriptionId"`
			VMID           string `json:"vmId"`
		} `json:"compute"`
	}
	if err := decodeJSON(body, &doc); err != nil {
		return Info{}, fmt.Errorf("azure metadata: %w", err)
	}
	info := Info{
		Provider:     Azure,
		InstanceType: doc.Compute.VMSize,
		Region:       doc.Compute.Location,
		Zone:         doc.Compute.Zone,
		Account:      doc.Compute.SubscriptionID,
		InstanceID:   doc.Compute.VMID,
	}
	if err := checkFound(info); err != nil {
		return Info{}, fmt.Errorf("azure metadata: %w", err)
	}
	return info, nil
}

// https://docs.oracle.com/iaas/Content/Compute/Tasks/gettingmetadata.htm
func (d *Detector) probeOracle(ctx context.Context, c *http.Client) (Info, error) {
	endpoint := baseURL(d.OracleURL, defaultLinkLocalURL) + "/opc/v2/instance/"
	body, _, err := d.fetch(ctx, c, http.MethodGet, endpoint, http.Header{"Authorization": {"Bearer Oracle"}})
	if err != nil {
		return Info{}, fmt.Errorf("oracle_cloud metadata: %w", err)
	}
	var doc struct {
		ID                  string `json:"id"`
		Shape               string `json:"shape"`
		CanonicalRegionName string `json:"canonicalRegionName"`
		Region              string `json:"region"`
		AvailabilityDomain  string `json:"availabilityDomain"`
		TenantID            string `json:"tenantId"`
		CompartmentID       string `json:"compartmentId"`
		RegionInfo          struct {
			RegionIdentifier string `json:"regionIdentifier"`
		} `json:"regionInfo"`
	}
	if err := decodeJSON(body, &doc); err != nil {
		return Info{}, fmt.Errorf("oracle_cloud metadata: %w", err)
	}
	region := doc.CanonicalRegionName
	if region == "" {
		region = doc.RegionInfo.RegionIdentifier
	}
	if region == "" {
		region = ociCanonicalRegion(doc.Region)
	}
	account := doc.TenantID
	if account == "" {
		account = doc.CompartmentID
	}
	info := Info{
		Provider:     OracleCloud,
		InstanceType: doc.Shape,
		Region:       region,
		Zone:         ociZone(doc.AvailabilityDomain),
		Account:      account,
		InstanceID:   doc.ID,
	}
	if err := checkFound(info); err != nil {
		return Info{}, fmt.Errorf("oracle_cloud metadata: %w", err)
	}
	return info, nil
}

// ociZone drops the tenancy-specific prefix of an availability domain
// ("Uocm:US-ASHBURN-AD-1" -> "US-ASHBURN-AD-1"): the same domain has a
// different prefix in every tenancy, and OKE's zone labels carry none.
func ociZone(ad string) string {
	if _, after, ok := strings.Cut(ad, ":"); ok {
		return after
	}
	return ad
}

// https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/instance-identity-documents.html
// IMDSv2 only: many fleets disable v1, and v2 works wherever v1 does.
func (d *Detector) probeAWS(ctx context.Context, c *http.Client) (Info, error) {
	base := baseURL(d.AWSURL, defaultLinkLocalURL)
	tok, _, err := d.fetch(ctx, c, http.MethodPut, base+"/latest/api/token",
		http.Header{"X-Aws-Ec2-Metadata-Token-Ttl-Seconds": {awsTokenTTL}})
	if err != nil {
		return Info{}, fmt.Errorf("aws metadata: token: %w", err)
	}
	token := strings.TrimSpace(string(tok))
	if token == "" || strings.ContainsFunc(token, unicode.IsSpace) {
		return Info{}, errors.New("aws metadata: token: answer is not a token")
	}
	body, _, err := d.fetch(ctx, c, http.MethodGet, base+"/latest/dynamic/instance-identity/document",
		http.Header{"X-Aws-Ec2-Metadata-Token": {token}})
	if err != nil {
		return Info{}, fmt.Errorf("aws metadata: %w", err)
	}
	var doc struct {
		InstanceType     string `json:"instanceType"`
		Region           string `json:"region"`
		AvailabilityZone string `json:"availabilityZone"`
		AccountID        string `json:"accountId"`
		InstanceID       string `json:"instanceId"`
	}
	if err := decodeJSON(body, &doc); err != nil {
		return Info{}, fmt.Errorf("aws metadata: %w", err)
	}
	info := Info{
		Provider:     AWS,
		InstanceType: doc.InstanceType,
		Region:       doc.Region,
		Zone:         doc.AvailabilityZone,
		Account:      doc.AccountID,
		InstanceID:   doc.InstanceID,
	}
	if err := checkFound(info); err != nil {
		return Info{}, fmt.Errorf("aws metadata: %w", err)
	}
	return info, nil
}

// https://cloud.google.com/compute/docs/metadata/querying-metadata
func (d *Detector) probeGCP(ctx context.Context, c *http.Client) (Info, error) {
	base := baseURL(d.GCPURL, defaultGCPURL) + "/computeMetadata/v1/"
	get := func(path string) (string, error) {
		body, hdr, err := d.fetch(ctx, c, http.MethodGet, base+path, http.Header{"Metadata-Flavor": {"Google"}})
		if err != nil {
			return "", err
		}
		// The real server echoes the header; a server that does not is
		// something else answering on the same address.
		if hdr.Get("Metadata-Flavor") != "Google" {
			return "", fmt.Errorf("GET %s: answer lacks header Metadata-Flavor: Google", base+path)
		}
		return strings.TrimSpace(string(body)), nil
	}

	var machineType, zone, id, project string
	for _, f := range []struct {
		path string
		dst  *string
	}{
		{"instance/machine-type", &machineType},
		{"instance/zone", &zone},
		{"instance/id", &id},
		{"project/project-id", &project},
	} {
		v, err := get(f.path)
		if err != nil {
			return Info{}, fmt.Errorf("gcp metadata: %w", err)
		}
		*f.dst = v
	}

	// machine-type and zone are resource paths:
	// projects/123456/machineTypes/a3-highgpu-8g, projects/123456/zones/us-central1-a.
	zone = lastSegment(zone)
	info := Info{
		Provider:     GCP,
		InstanceType: lastSegment(machineType),
		Region:       gcpRegionFromZone(zone),
		Zone:         zone,
		Account:      project,
		InstanceID:   id,
	}
	if err := checkFound(info); err != nil {
		return Info{}, fmt.Errorf("gcp metadata: %w", err)
	}
	return info, nil
}

func lastSegment(p string) string {
	return p[strings.LastIndexByte(p, '/')+1:]
}
