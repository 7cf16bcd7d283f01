package provider

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The fakes below answer the way the real metadata services do, refusals
// included, so that a probe only passes by sending exactly the right request
// and a probe aimed at the wrong provider's server fails like it would on a
// real machine, where Azure, OCI and AWS all live at 169.254.169.254.

func readFixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func writeStatus(w http.ResponseWriter, code int, contentType, body string) {
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(code)
	_, _ = io.WriteString(w, body)
}

// fakeAzure mimics Azure IMDS: 400 without "Metadata: true", 400 without
// api-version, 404 for unknown paths, 405 for anything but GET.
func fakeAzure(doc []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Server", "Microsoft-IIS/10.0")
		const js = "application/json; charset=utf-8"
		if r.Header.Get("Metadata") != "true" {
			writeStatus(w, http.StatusBadRequest, js, `{"error":"Bad request. Required metadata header not specified"}`)
			return
		}
		if r.URL.Path != "/metadata/instance" && r.URL.Path != "/metadata/instance/" {
			writeStatus(w, http.StatusNotFound, js, `{"error":"Not found"}`)
			return
		}
		if r.Method != http.MethodGet {
			writeStatus(w, http.StatusMethodNotAllowed, js, `{"error":"Method not allowed"}`)
			return
		}
		if r.URL.Query().Get("api-version") == "" {
			writeStatus(w, http.StatusBadRequest, js, `{"error":"Bad request. api-version was not specified in the request. For more information refer to aka.ms/azureimds","newest-versions":["2023-07-01","2023-04-04","2023-04-01"]}`)
			return
		}
		writeStatus(w, http.StatusOK, js, string(doc))
	}
}

// fakeOracle mimics OCI IMDS v2: 401 without "Authorization: Bearer Oracle",
// 404 elsewhere.
func fakeOracle(doc []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		const notFound = "<html>\r\n<head><title>404 Not Found</title></head>\r\n<body>\r\n<center><h1>404 Not Found</h1></center>\r\n</body>\r\n</html>\r\n"
		if !strings.HasPrefix(r.URL.Path, "/opc/v2/") {
			writeStatus(w, http.StatusNotFound, "text/html", notFound)
			return
		}
		if r.Header.Get("Authorization") != "Bearer Oracle" {
			writeStatus(w, http.StatusUnauthorized, "application/json", `{"code":"NotAuthenticated","message":"The required information to complete authentication was not provided."}`)
			return
		}
		if r.Method != http.MethodGet {
			writeStatus(w, http.StatusMethodNotAllowed, "application/json", `{"code":"MethodNotAllowed","message":"Method not allowed"}`)
			return
		}
		if r.URL.Path != "/opc/v2/instance/" && r.URL.Path != "/opc/v2/instance" {
			writeStatus(w, http.StatusNotFound, "text/html", notFound)
			return
		}
		writeStatus(w, http.StatusOK, "application/json", string(doc))
	}
}

// fakeAWS mimics an IMDSv2-only EC2 instance: PUT /latest/api/token needs a
// TTL header (400 without), every GET needs a valid token (401 without).
func fakeAWS(doc []byte) http.HandlerFunc {
	const token = "AQAEAHb8Bq6n3sG1c6vYxL0q4tV7uW2yZ9aB3cD5eF7gH1iJ3kL5mN7oP9qR=="
	page := func(code int) string {
		text := strconv.Itoa(code) + " - " + http.StatusText(code)
		return `<?xml version="1.0" encoding="iso-8859-1"?>` + "\n" +
			`<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN" "http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">` + "\n" +
			"<html><head><title>" + text + "</title></head><body><h1>" + text + "</h1></body></html>\n"
	}
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Server", "EC2ws")
		if r.Header.Get("X-Forwarded-For") != "" {
			writeStatus(w, http.StatusForbidden, "text/html", page(http.StatusForbidden))
			return
		}
		switch {
		case r.Method == http.MethodPut && r.URL.Path == "/latest/api/token":
			ttl, err := strconv.Atoi(r.Header.Get("X-Aws-Ec2-Metadata-Token-Ttl-Seconds"))
			if err != nil || ttl < 1 || ttl > 21600 {
				writeStatus(w, http.StatusBadRequest, "text/html", page(http.StatusBadRequest))
				return
			}
			w.Header().Set("X-Aws-Ec2-Metadata-Token-Ttl-Seconds", strconv.Itoa(ttl))
			writeStatus(w, http.StatusOK, "text/plain", token)
		case r.Method != http.MethodGet:
			writeStatus(w, http.StatusMethodNotAllowed, "text/html", page(http.StatusMethodNotAllowed))
		case r.Header.Get("X-Aws-Ec2-Metadata-Token") != token:
			writeStatus(w, http.StatusUnauthorized, "text/html", page(http.StatusUnauthorized))
		case r.URL.Path == "/latest/dynamic/instance-identity/document":
			writeStatus(w, http.StatusOK, "text/plain", string(doc))
		default:
			writeStatus(w, http.StatusNotFound, "text/html", page(http.StatusNotFound))
		}
	}
}

var gcpValues = map[string]string{
	"instance/machine-type":      "projects/123456789012/machineTypes/a3-highgpu-8g",
	"instance/zone":              "projects/123456789012/zones/us-central1-a",
	"instance/id":                "4520031799277581759",
	"instance/hostname":          "gke-ml-a3-pool-5f1c2d3e-x7k9.us-central1-a.c.gpu-prod-431208.internal",
	"instance/name":              "gke-ml-a3-pool-5f1c2d3e-x7k9",
	"project/project-id":         "gpu-prod-431208",
	"project/numeric-project-id": "123456789012",
}

// fakeGCP mimics the GCE metadata server: it always sends
// "Metadata-Flavor: Google" and refuses requests without it with 403.
// echoFlavor=false turns it into an impostor that omits the header.
func fakeGCP(values map[string]string, echoFlavor bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if echoFlavor {
			w.Header().Set("Metadata-Flavor", "Google")
		}
		w.Header().Set("Server", "Metadata Server for VM")
		if r.Header.Get("Metadata-Flavor") != "Google" || r.Header.Get("X-Forwarded-For") != "" {
			writeStatus(w, http.StatusForbidden, "text/html; charset=UTF-8",
				"<!DOCTYPE html>\n<html lang=en>\n  <meta charset=utf-8>\n  <title>Error 403 (Forbidden)!!1</title>\n"+
					"  <p><b>403.</b> <ins>That’s an error.</ins>\n  <p>Your client does not have permission to get URL <code>"+
					r.URL.Path+"</code> from this server. Missing Metadata-Flavor:Google header. <ins>That’s all we know.</ins>\n")
			return
		}
		v, ok := values[strings.TrimPrefix(r.URL.Path, "/computeMetadata/v1/")]
		if !ok || !strings.HasPrefix(r.URL.Path, "/computeMetadata/v1/") {
			writeStatus(w, http.StatusNotFound, "text/html; charset=UTF-8", "<!DOCTYPE html>\n<html lang=en>\n  <title>Error 404 (Not Found)!!1</title>\n  <p><b>404.</b> <ins>That’s an error.</ins>\n")
			return
		}
		if r.Method != http.MethodGet {
			writeStatus(w, http.StatusMethodNotAllowed, "text/html", "")
			return
		}
		w.Header().Set("ETag", "8b9d3f1c2a4e6b70")
		writeStatus(w, http.StatusOK, "application/text", v)
	}
}

func notFound() http.HandlerFunc { return http.NotFound }

// delayed answers after d, as a loaded metadata service might.
func delayed(d time.Duration, h http.Handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(d):
			h.ServeHTTP(w, r)
		case <-r.Context().Done():
		}
	}
}

func serve(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

// serveHanging starts a server that accepts requests and never answers, like
// a filtered link-local address on a machine outside any cloud.
func serveHanging(t *testing.T) string {
	t.Helper()
	stop := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-stop:
		}
	}))
	// Cleanups run last-in first-out: release handlers before Close waits.
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(stop) })
	return srv.URL
}

// closedURL is an address where nothing listens.
func closedURL(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.NotFoundHandler())
	srv.Close()
	return srv.URL
}

func allAt(url string) Detector {
	return Detector{AzureURL: url, OracleURL: url, AWSURL: url, GCPURL: url, Timeout: 2 * time.Second}
}

var (
	wantAzure = Info{
		Provider:     Azure,
		Region:       "eastus",
		Zone:         "2",
		InstanceType: "Standard_ND96isr_H100_v5",
		Account:      "8d10da13-8125-4ba9-a717-bf7490507b3d",
		InstanceID:   "02aab8a4-74ef-476e-8182-f6d2ba4166a6",
	}
	wantOracle = Info{
		Provider:     OracleCloud,
		Region:       "us-ashburn-1",
		Zone:         "US-ASHBURN-AD-2",
		InstanceType: "BM.GPU.H100.8",
		Account:      "ocid1.tenancy.oc1..aaaaaaaaba3pv6wkcr4jqae5f15p2b2m2yt2j6rx32uzr4h25vqstifsfdsq",
		InstanceID:   "ocid1.instance.oc1.iad.anuwcljtc3g4y5yczb5crr7vq2fanxh6bvuf2kxyq5ej2lvtcpazbhe3n7aq",
	}
	wantAWS = Info{
		Provider:     AWS,
		Region:       "us-east-1",
		Zone:         "us-east-1a",
		InstanceType: "p5.48xlarge",
		Account:      "123456789012",
		InstanceID:   "i-0a1b2c3d4e5f67890",
	}
	wantGCP = Info{
		Provider:     GCP,
		Region:       "us-central1",
		Zone:         "us-central1-a",
		InstanceType: "a3-highgpu-8g",
		Account:      "gpu-prod-431208",
		InstanceID:   "4520031799277581759",
	}
)

// TestFakesRefuseLikeTheRealServices keeps the fakes honest: a probe that
// forgot a header would otherwise pass against a lenient fake.
func TestFakesRefuseLikeTheRealServices(t *testing.T) {
	azure := serve(t, fakeAzure(readFixture(t, "azure_instance.json")))
	oracle := serve(t, fakeOracle(readFixture(t, "oci_instance.json")))
	aws := serve(t, fakeAWS(readFixture(t, "aws_identity.json")))
	gcp := serve(t, fakeGCP(gcpValues, true))

	tests := []struct {
		name   string
		method string
		url    string
		header map[string]string
		want   int
	}{
		{"azure without Metadata header", "GET", azure + "/metadata/instance?api-version=2021-02-01", nil, 400},
		{"azure without api-version", "GET", azure + "/metadata/instance", map[string]string{"Metadata": "true"}, 400},
		{"azure OCI path", "GET", azure + "/opc/v2/instance/", map[string]string{"Metadata": "true"}, 404},
		{"azure ok", "GET", azure + "/metadata/instance?api-version=2021-02-01", map[string]string{"Metadata": "true"}, 200},
		{"oracle without Authorization", "GET", oracle + "/opc/v2/instance/", nil, 401},
		{"oracle Azure path", "GET", oracle + "/metadata/instance?api-version=2021-02-01", map[string]string{"Metadata": "true"}, 404},
		{"oracle ok", "GET", oracle + "/opc/v2/instance/", map[string]string{"Authorization": "Bearer Oracle"}, 200},
		{"aws token without TTL", "PUT", aws + "/latest/api/token", nil, 400},
		{"aws GET without token", "GET", aws + "/latest/dynamic/instance-identity/document", nil, 401},
		{"aws token via GET", "GET", aws + "/latest/api/token", map[string]string{"X-Aws-Ec2-Metadata-Token-Ttl-Seconds": "21600"}, 401},
		{"gcp without Metadata-Flavor", "GET", gcp + "/computeMetadata/v1/instance/zone", nil, 403},
		{"gcp unknown path", "GET", gcp + "/metadata/instance", map[string]string{"Metadata-Flavor": "Google"}, 404},
		{"gcp ok", "GET", gcp + "/computeMetadata/v1/instance/zone", map[string]string{"Metadata-Flavor": "Google"}, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(t.Context(), tt.method, tt.url, nil)
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tt.header {
				req.Header.Set(k, v)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Errorf("status = %d, want %d", resp.StatusCode, tt.want)
			}
		})
	}
}

// TestDetectSameAddress points all four probes at one server, as on a real
// machine, and checks that only the right provider recognises it.
func TestDetectSameAddress(t *testing.T) {
	azureDoc := readFixture(t, "azure_instance.json")
	ociDoc := readFixture(t, "oci_instance.json")

	azureNoZone := strings.Replace(string(azureDoc), `"zone": "2"`, `"zone": ""`, 1)
	wantAzureNoZone := wantAzure
	wantAzureNoZone.Zone = ""

	ociNoTenant := strings.Replace(string(ociDoc), `"tenantId"`, `"tenantIdRemoved"`, 1)
	wantOracleCompartment := wantOracle
	wantOracleCompartment.Account = "ocid1.compartment.oc1..aaaaaaaa4ktfdz2hpmzjsyp7txvm6wiwpjh5lqdbrpfxkexmzgnv4jy3bw6q"

	tests := []struct {
		name    string
		handler http.Handler
		want    Info
	}{
		{"azure", fakeAzure(azureDoc), wantAzure},
		{"azure without zone", fakeAzure([]byte(azureNoZone)), wantAzureNoZone},
		{"oracle", fakeOracle(ociDoc), wantOracle},
		{"oracle without tenantId", fakeOracle([]byte(ociNoTenant)), wantOracleCompartment},
		{"aws", fakeAWS(readFixture(t, "aws_identity.json")), wantAWS},
		{"gcp", fakeGCP(gcpValues, true), wantGCP},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := allAt(serve(t, tt.handler))
			got, err := d.Detect(t.Context())
			if err != nil {
				t.Fatalf("Detect: %v", err)
			}
			if got != tt.want {
				t.Errorf("Detect =\n  %+v\nwant\n  %+v", got, tt.want)
			}
		})
	}
}

func TestDetectPriority(t *testing.T) {
	azure := fakeAzure(readFixture(t, "azure_instance.json"))
	oracle := fakeOracle(readFixture(t, "oci_instance.json"))
	aws := fakeAWS(readFixture(t, "aws_identity.json"))
	gcp := fakeGCP(gcpValues, true)
	const slow = 300 * time.Millisecond

	tests := []struct {
		name                    string
		azure, oracle, aws, gcp http.Handler
		want                    string
		minElapsed, maxElapsed  time.Duration
	}{
		{name: "all answer: azure", azure: azure, oracle: oracle, aws: aws, gcp: gcp, want: Azure},
		{name: "slow azure still beats fast aws", azure: delayed(slow, azure), oracle: notFound(), aws: aws, gcp: gcp, want: Azure, minElapsed: slow},
		{name: "oracle over aws and gcp", azure: notFound(), oracle: oracle, aws: aws, gcp: gcp, want: OracleCloud},
		{name: "aws over gcp", azure: notFound(), oracle: notFound(), aws: aws, gcp: gcp, want: AWS},
		{name: "gcp last", azure: notFound(), oracle: notFound(), aws: notFound(), gcp: gcp, want: GCP},
		{name: "answer does not wait for lower priorities", azure: azure, oracle: delayed(time.Hour, oracle), aws: delayed(time.Hour, aws), gcp: delayed(time.Hour, gcp), want: Azure, maxElapsed: time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Detector{
				AzureURL:  serve(t, tt.azure),
				OracleURL: serve(t, tt.oracle),
				AWSURL:    serve(t, tt.aws),
				GCPURL:    serve(t, tt.gcp),
				Timeout:   5 * time.Second,
			}
			start := time.Now()
			got, err := d.Detect(t.Context())
			elapsed := time.Since(start)
			if err != nil {
				t.Fatalf("Detect: %v", err)
			}
			if got.Provider != tt.want {
				t.Errorf("Provider = %q, want %q", got.Provider, tt.want)
			}
			if elapsed < tt.minElapsed {
				t.Errorf("returned after %v, before the higher-priority probe could answer (%v)", elapsed, tt.minElapsed)
			}
			if tt.maxElapsed > 0 && elapsed > tt.maxElapsed {
				t.Errorf("returned after %v, want at most %v", elapsed, tt.maxElapsed)
			}
		})
	}
}

// TestDetectRejectsImpostors covers servers that answer 200 but are not a
// metadata service of the probed provider.
func TestDetectRejectsImpostors(t *testing.T) {
	bigAzure := `{"compute":{"vmSize":"Standard_ND96isr_H100_v5","location":"eastus","customData":"` +
		strings.Repeat("A", maxBody) + `"}}`

	tests := []struct {
		name    string
		handler http.Handler
		wantErr []string
	}{
		{
			name: "captive portal answers every path with HTML",
			handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				writeStatus(w, http.StatusOK, "text/html", "<html><body>Please log in to the guest network</body></html>")
			}),
			wantErr: []string{"azure metadata: parse document", "oracle_cloud metadata: parse document", "aws metadata: token: answer is not a token", "gcp metadata", "Metadata-Flavor"},
		},
		{
			name: "JSON server without instance fields",
			handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				writeStatus(w, http.StatusOK, "application/json", `{}`)
			}),
			wantErr: []string{"azure metadata: document names neither", "oracle_cloud metadata: document names neither", "aws metadata: document names neither"},
		},
		{
			name:    "GCP look-alike without Metadata-Flavor answer header",
			handler: fakeGCP(gcpValues, false),
			wantErr: []string{"gcp metadata: GET", "answer lacks header Metadata-Flavor: Google", "azure metadata", "status 403"},
		},
		{
			name:    "oversized Azure document",
			handler: fakeAzure([]byte(bigAzure)),
			wantErr: []string{"azure metadata: GET", "body exceeds 1048576 bytes"},
		},
		{
			name:    "Azure document without compute",
			handler: fakeAzure([]byte(`{"network":{"interface":[]}}`)),
			wantErr: []string{"azure metadata: document names neither instance type nor region"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := allAt(serve(t, tt.handler))
			got, err := d.Detect(t.Context())
			if err == nil {
				t.Fatalf("Detect = %+v, want an error", got)
			}
			if got != (Info{Provider: Unknown}) {
				t.Errorf("Detect = %+v, want only Provider %q", got, Unknown)
			}
			for _, s := range tt.wantErr {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error lacks %q:\n%v", s, err)
				}
			}
		})
	}
}

func TestDetectNoneAnswers(t *testing.T) {
	tests := []struct {
		name    string
		url     func(*testing.T) string
		wantErr string
	}{
		{"nothing listens", closedURL, "connection refused"},
		{"everything 404", func(t *testing.T) string { return serve(t, notFound()) }, "status 404 Not Found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := allAt(tt.url(t))
			got, err := d.Detect(t.Context())
			if got != (Info{Provider: Unknown}) {
				t.Errorf("Detect = %+v, want only Provider %q", got, Unknown)
			}
			var de *DetectError
			if !errors.As(err, &de) {
				t.Fatalf("error %v (%T) is not a *DetectError", err, err)
			}
			if len(de.Errs) != 4 {
				t.Errorf("got %d probe errors, want 4: %v", len(de.Errs), err)
			}
			for _, p := range []string{"azure metadata:", "oracle_cloud metadata:", "aws metadata:", "gcp metadata:"} {
				if !strings.Contains(err.Error(), p) {
					t.Errorf("error does not name %q:\n%v", p, err)
				}
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error lacks %q:\n%v", tt.wantErr, err)
			}
		})
	}
}

func TestDetectTimeout(t *testing.T) {
	const timeout = 200 * time.Millisecond
	tests := []struct {
		name      string
		detector  func(t *testing.T) Detector
		want      string
		wantErrIn string
	}{
		{
			name: "all hang",
			detector: func(t *testing.T) Detector {
				d := allAt(serveHanging(t))
				d.Timeout = timeout
				return d
			},
			want:      Unknown,
			wantErrIn: "no answer within 200ms",
		},
		{
			name: "azure hangs, aws answers after azure's timeout",
			detector: func(t *testing.T) Detector {
				return Detector{
					AzureURL:  serveHanging(t),
					OracleURL: serve(t, notFound()),
					AWSURL:    serve(t, fakeAWS(readFixture(t, "aws_identity.json"))),
					GCPURL:    serve(t, notFound()),
					Timeout:   timeout,
				}
			},
			want: AWS,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := tt.detector(t)
			start := time.Now()
			got, err := d.Detect(t.Context())
			elapsed := time.Since(start)
			if got.Provider != tt.want {
				t.Errorf("Provider = %q, want %q (err %v)", got.Provider, tt.want, err)
			}
			// Generous slack for -race on a loaded machine; the point is
			// that the hang does not hold Detect beyond its timeout.
			if elapsed > timeout+time.Second {
				t.Errorf("Detect took %v with Timeout %v", elapsed, timeout)
			}
			if tt.wantErrIn == "" {
				if err != nil {
					t.Errorf("Detect: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErrIn) {
				t.Errorf("error = %v, want it to contain %q", err, tt.wantErrIn)
			}
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("errors.Is(err, context.DeadlineExceeded) = false for %v", err)
			}
		})
	}
}

func TestDetectCallerCancel(t *testing.T) {
	d := allAt(serveHanging(t))
	d.Timeout = time.Minute
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()

	start := time.Now()
	got, err := d.Detect(ctx)
	if elapsed := time.Since(start); elapsed > 2*time.Second {
		t.Errorf("Detect took %v after the caller's context ended", elapsed)
	}
	if got.Provider != Unknown || err == nil {
		t.Fatalf("Detect = %+v, %v; want unknown and an error", got, err)
	}
	// The caller's deadline is not the probe timeout, so it must not be
	// reported as one.
	if strings.Contains(err.Error(), "no answer within") {
		t.Errorf("error blames the probe timeout: %v", err)
	}
}

func TestDefaultClient(t *testing.T) {
	var d Detector
	c := d.client()
	tr, ok := c.Transport.(*http.Transport)
	if !ok {
		t.Fatalf("Transport is %T, want *http.Transport", c.Transport)
	}
	// A proxy from HTTP_PROXY cannot reach this node's link-local address.
	if tr.Proxy != nil {
		t.Error("default transport uses a proxy")
	}
	if d.timeout() != 2*time.Second {
		t.Errorf("default timeout = %v, want 2s", d.timeout())
	}

	custom := &http.Client{}
	d.Client = custom
	if d.client() != custom {
		t.Error("Detector.Client is not used")
	}
}

// TestDetectIgnoresRedirects makes sure a redirect to a server that would
// answer is not followed: metadata services never redirect.
func TestDetectIgnoresRedirects(t *testing.T) {
	real := serve(t, fakeAzure(readFixture(t, "azure_instance.json")))
	redirector := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, real+r.URL.RequestURI(), http.StatusFound)
	}))
	d := allAt(redirector)
	got, err := d.Detect(t.Context())
	if err == nil || got.Provider != Unknown {
		t.Fatalf("Detect = %+v, %v; want unknown and an error", got, err)
	}
	if !strings.Contains(err.Error(), "status 302") {
		t.Errorf("error does not report the redirect: %v", err)
	}
}

func TestFromNode(t *testing.T) {
	tests := []struct {
		name       string
		providerID string
		labels     map[string]string
		want       Info
		wantOK     bool
	}{
		{
			name:       "azure VM",
			providerID: "azure:///subscriptions/8d10da13-8125-4ba9-a717-bf7490507b3d/resourceGroups/rg-gpu/providers/Microsoft.Compute/virtualMachines/gpu-vm-0",
			labels: map[string]string{
				LabelRegion:       "eastus",
				LabelZone:         "eastus-2",
				LabelInstanceType: "Standard_ND96isr_H100_v5",
			},
			want: Info{Provider: Azure, Region: "eastus", Zone: "eastus-2", InstanceType: "Standard_ND96isr_H100_v5",
				Account: "8d10da13-8125-4ba9-a717-bf7490507b3d", InstanceID: "gpu-vm-0"},
			wantOK: true,
		},
		{
			name:       "azure AKS scale set",
			providerID: "azure:///subscriptions/8d10da13-8125-4ba9-a717-bf7490507b3d/resourceGroups/MC_rg-ml_aks-ml_eastus/providers/Microsoft.Compute/virtualMachineScaleSets/aks-gpupool-28716341-vmss/virtualMachines/3",
			labels: map[string]string{
				LabelRegion:                        "eastus",
				LabelZone:                          "eastus-2",
				LabelInstanceType:                  "Standard_ND96isr_H100_v5",
				"kubernetes.azure.com/agentpool":   "gpupool",
				"kubernetes.azure.com/accelerator": "nvidia",
			},
			want: Info{Provider: Azure, Region: "eastus", Zone: "eastus-2", InstanceType: "Standard_ND96isr_H100_v5",
				Account: "8d10da13-8125-4ba9-a717-bf7490507b3d", InstanceID: "aks-gpupool-28716341-vmss_3"},
			wantOK: true,
		},
		{
			name:       "azure resource types in lower case",
			providerID: "azure:///subscriptions/sub-1/resourcegroups/rg/providers/microsoft.compute/virtualmachinescalesets/ss/virtualmachines/0",
			want:       Info{Provider: Azure, Account: "sub-1", InstanceID: "ss_0"},
			wantOK:     true,
		},
		{
			name:       "aws EKS",
			providerID: "aws:///us-east-1a/i-0a1b2c3d4e5f67890",
			labels: map[string]string{
				LabelRegion:                      "us-east-1",
				LabelZone:                        "us-east-1a",
				LabelInstanceType:                "p5.48xlarge",
				"eks.amazonaws.com/nodegroup":    "gpu",
				"eks.amazonaws.com/capacityType": "ON_DEMAND",
			},
			want:   Info{Provider: AWS, Region: "us-east-1", Zone: "us-east-1a", InstanceType: "p5.48xlarge", InstanceID: "i-0a1b2c3d4e5f67890"},
			wantOK: true,
		},
		{
			name:       "aws Local Zone without labels",
			providerID: "aws:///us-west-2-lax-1a/i-0123456789abcdef0",
			want:       Info{Provider: AWS, Region: "us-west-2", Zone: "us-west-2-lax-1a", InstanceID: "i-0123456789abcdef0"},
			wantOK:     true,
		},
		{
			name:       "aws GovCloud without labels",
			providerID: "aws:///us-gov-west-1b/i-0fedcba9876543210",
			want:       Info{Provider: AWS, Region: "us-gov-west-1", Zone: "us-gov-west-1b", InstanceID: "i-0fedcba9876543210"},
			wantOK:     true,
		},
		{
			name:       "aws Fargate",
			providerID: "aws:///us-east-1b/7a1b2c3d4e-5f6a7b8c9d0e4f1a/fargate-ip-192-168-12-34.ec2.internal",
			want:       Info{Provider: AWS, Region: "us-east-1", Zone: "us-east-1b", InstanceID: "fargate-ip-192-168-12-34.ec2.internal"},
			wantOK:     true,
		},
		{
			name:       "gce GKE",
			providerID: "gce://gpu-prod-431208/us-central1-a/gke-ml-a3-pool-5f1c2d3e-x7k9",
			labels: map[string]string{
				LabelRegion:                        "us-central1",
				LabelZone:                          "us-central1-a",
				LabelInstanceType:                  "a3-highgpu-8g",
				"cloud.google.com/gke-nodepool":    "a3-pool",
				"cloud.google.com/gke-accelerator": "nvidia-h100-80gb",
			},
			want: Info{Provider: GCP, Region: "us-central1", Zone: "us-central1-a", InstanceType: "a3-highgpu-8g",
				Account: "gpu-prod-431208", InstanceID: "gke-ml-a3-pool-5f1c2d3e-x7k9"},
			wantOK: true,
		},
		{
			name:       "gce with legacy labels only",
			providerID: "gce://gpu-dev/us-west1-b/gpu-node-1",
			labels: map[string]string{
				LabelInstanceTypeLegacy: "a2-highgpu-1g",
				LabelZoneLegacy:         "us-west1-b",
				LabelRegionLegacy:       "us-west1",
			},
			want: Info{Provider: GCP, Region: "us-west1", Zone: "us-west1-b", InstanceType: "a2-highgpu-1g",
				Account: "gpu-dev", InstanceID: "gpu-node-1"},
			wantOK: true,
		},
		{
			name:       "gce region derived from zone",
			providerID: "gce://gpu-dev/europe-west4-b/gpu-node-2",
			want:       Info{Provider: GCP, Region: "europe-west4", Zone: "europe-west4-b", Account: "gpu-dev", InstanceID: "gpu-node-2"},
			wantOK:     true,
		},
		{
			name:       "new labels win over legacy ones",
			providerID: "gce://p/us-west1-b/n",
			labels: map[string]string{
				LabelZone:       "us-west1-c",
				LabelZoneLegacy: "us-west1-b",
			},
			want:   Info{Provider: GCP, Region: "us-west1", Zone: "us-west1-c", Account: "p", InstanceID: "n"},
			wantOK: true,
		},
		{
			name:       "oci OKE with region key label",
			providerID: "oci://ocid1.instance.oc1.iad.anuwcljtc3g4y5yczb5crr7vq2fanxh6bvuf2kxyq5ej2lvtcpazbhe3n7aq",
			labels: map[string]string{
				LabelRegion:                        "iad",
				LabelZone:                          "US-ASHBURN-AD-2",
				LabelInstanceType:                  "BM.GPU.H100.8",
				"oci.oraclecloud.com/fault-domain": "FAULT-DOMAIN-1",
			},
			want: Info{Provider: OracleCloud, Region: "us-ashburn-1", Zone: "US-ASHBURN-AD-2", InstanceType: "BM.GPU.H100.8",
				InstanceID: "ocid1.instance.oc1.iad.anuwcljtc3g4y5yczb5crr7vq2fanxh6bvuf2kxyq5ej2lvtcpazbhe3n7aq"},
			wantOK: true,
		},
		{
			name:       "oci canonical region label",
			providerID: "oci://ocid1.instance.oc1.iad.anuwcljtc3g4y5yc",
			labels:     map[string]string{LabelRegion: "us-ashburn-1"},
			want:       Info{Provider: OracleCloud, Region: "us-ashburn-1", InstanceID: "ocid1.instance.oc1.iad.anuwcljtc3g4y5yc"},
			wantOK:     true,
		},
		{
			name:       "oci region from ocid key without labels",
			providerID: "oci://ocid1.instance.oc1.phx.anyhqljsx5ajd3yc",
			want:       Info{Provider: OracleCloud, Region: "us-phoenix-1", InstanceID: "ocid1.instance.oc1.phx.anyhqljsx5ajd3yc"},
			wantOK:     true,
		},
		{
			name:       "oci region from ocid canonical name without labels",
			providerID: "oci://ocid1.instance.oc1.eu-frankfurt-1.antheljsq7bdfxqc",
			want:       Info{Provider: OracleCloud, Region: "eu-frankfurt-1", InstanceID: "ocid1.instance.oc1.eu-frankfurt-1.antheljsq7bdfxqc"},
			wantOK:     true,
		},
		{
			name:       "unknown scheme names its provider",
			providerID: "kind://docker/kind/kind-worker",
			labels:     map[string]string{LabelZone: "rack-7"},
			want:       Info{Provider: "kind", Zone: "rack-7", InstanceID: "kind-worker"},
			wantOK:     true,
		},
		{
			name:       "scheme alias",
			providerID: "ibm://7f3c2b1a0e9d8c7b6a5f4e3d2c1b0a9f///c0ab1cd20def3gh4ij5k/kube-c0ab1cd20def3gh4ij5k-gpu-00000123",
			want:       Info{Provider: IBMCloud, InstanceID: "kube-c0ab1cd20def3gh4ij5k-gpu-00000123"},
			wantOK:     true,
		},
		{
			name:   "labels only, managed-service label names the provider",
			labels: map[string]string{"kubernetes.azure.com/agentpool": "gpupool", LabelRegion: "westeurope"},
			want:   Info{Provider: Azure, Region: "westeurope"},
			wantOK: true,
		},
		{
			name:   "labels only, no provider",
			labels: map[string]string{LabelRegion: "us-east-1", LabelInstanceType: "p5.48xlarge"},
			want:   Info{Provider: Unknown, Region: "us-east-1", InstanceType: "p5.48xlarge"},
			wantOK: false,
		},
		{
			name:       "providerID without scheme",
			providerID: "i-0a1b2c3d4e5f67890",
			want:       Info{Provider: Unknown},
			wantOK:     false,
		},
		{
			name:   "nothing",
			want:   Info{Provider: Unknown},
			wantOK: false,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := FromNode(tt.providerID, tt.labels)
			if ok != tt.wantOK {
				t.Errorf("ok = %v, want %v", ok, tt.wantOK)
			}
			if got != tt.want {
				t.Errorf("FromNode =\n  %+v\nwant\n  %+v", got, tt.want)
			}
		})
	}
}

func TestMerge(t *testing.T) {
	detected := Info{Provider: AWS, Region: "us-east-1", Zone: "us-east-1a", InstanceType: "p5.48xlarge", Account: "123456789012", InstanceID: "i-1"}
	tests := []struct {
		name     string
		base     Info
		override Info
		want     Info
	}{
		{"empty override keeps everything", detected, Info{}, detected},
		{
			"partial override replaces only its fields",
			detected,
			Info{Account: "finance-042", Region: "us-east-2"},
			Info{Provider: AWS, Region: "us-east-2", Zone: "us-east-1a", InstanceType: "p5.48xlarge", Account: "finance-042", InstanceID: "i-1"},
		},
		{
			"full override",
			detected,
			Info{Provider: "coreweave", Region: "LGA1", Zone: "LGA1-A", InstanceType: "gd-8xh100ib-i128", Account: "acme", InstanceID: "node-7"},
			Info{Provider: "coreweave", Region: "LGA1", Zone: "LGA1-A", InstanceType: "gd-8xh100ib-i128", Account: "acme", InstanceID: "node-7"},
		},
		{"override fills unknowns", Info{}, Info{Provider: "on_prem"}, Info{Provider: "on_prem"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.base.Merge(tt.override); got != tt.want {
				t.Errorf("Merge =\n  %+v\nwant\n  %+v", got, tt.want)
			}
		})
	}
}

func TestNormalize(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", Unknown},
		{"  ", Unknown},
		{"azure", Azure},
		{"AWS", AWS},
		{"ec2", AWS},
		{"Amazon", AWS},
		{"gce", GCP},
		{" Google ", GCP},
		{"gcp", GCP},
		{"oci", OracleCloud},
		{"Oracle", OracleCloud},
		{"oracle-cloud", OracleCloud},
		{"oracle_cloud", OracleCloud},
		{"alicloud", AlibabaCloud},
		{"CoreWeave", "coreweave"},
		{"on-prem", "on_prem"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			in := Info{Provider: tt.in, Region: "Region-1", Zone: "Zone-A"}
			got := Normalize(in)
			if got.Provider != tt.want {
				t.Errorf("Normalize(%q).Provider = %q, want %q", tt.in, got.Provider, tt.want)
			}
			// Other fields keep the provider's own spelling.
			if got.Region != in.Region || got.Zone != in.Zone {
				t.Errorf("Normalize changed other fields: %+v", got)
			}
		})
	}
}
