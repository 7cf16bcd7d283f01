package commitment

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

const requestsBase = `currency: USD
commitments:
  - id: az-nd
    provider: azure
    kind: capacity
    quantity: 8
    term: {start: 2026-11-01T00:00:00Z, end: 2026-12-01T00:00:00Z}
  - id: oci-use
    provider: oracle_cloud
    kind: usage
    quantity: 1000
    term: {start: 2026-11-01T00:00:00Z, end: 2026-12-01T00:00:00Z}
`

func TestParseRequestsGood(t *testing.T) {
	data := requestsBase + `primary:
  provider: azure
  commitments: [az-nd]
  no_answer_is_refusal: true
  alerts: {max_uncovered_gpu_hours_24h: 10}
requests:
  - id: req-1
    asked: 2026-10-30T09:00:00Z
    gpus: 16
    gpu_model: H100
    region: eastus
    period: {start: 2026-11-01T00:00:00Z, end: 2026-11-03T00:00:00Z}
    answer: {status: partial, at: 2026-11-01T09:30:00Z, accepted_gpus: 4}
    releases:
      - {provider: oracle_cloud, gpus: 12}
  - id: req-2
    asked: 2026-11-10T00:00:00Z
    gpus: 8
    instance_type: Standard_ND96isr_H100_v5
    period: {start: 2026-11-12T00:00:00Z, end: 2026-11-13T00:00:00Z}
    answer: {status: accepted, at: 2026-11-10T01:00:00Z}
  - id: req-3
    asked: 2026-11-20T00:00:00Z
    gpus: 8
    gpu_model: H100
    period: {start: 2026-11-21T00:00:00Z, end: 2026-11-22T00:00:00Z}
    answer: {status: none, deadline: 2026-11-20T12:00:00Z}
    releases: [{provider: aws, gpus: 8}]
`
	prim, reqs, err := parseRequests("f.yaml", []byte(data))
	if err != nil {
		t.Fatal(err)
	}
	wantPrim := Primary{Provider: "azure", Commitments: []string{"az-nd"}, NoAnswerIsRefusal: true, MaxUncoveredGPUHours24h: 10}
	if !reflect.DeepEqual(prim, wantPrim) {
		t.Errorf("primary = %+v, want %+v", prim, wantPrim)
	}
	want := []Request{
		{ID: "req-1", AskedAt: hour("2026-10-30T09:00:00Z"), GPUs: 16, GPUModel: "H100", Region: "eastus",
			Start: hour("2026-11-01T00:00:00Z"), End: hour("2026-11-03T00:00:00Z"), Status: AnswerPartial,
			AnsweredAt: hour("2026-11-01T09:30:00Z"), AcceptedGPUs: 4, Releases: []Release{{"oracle_cloud", 12}}},
		{ID: "req-2", AskedAt: hour("2026-11-10T00:00:00Z"), GPUs: 8, InstanceType: "Standard_ND96isr_H100_v5",
			Start: hour("2026-11-12T00:00:00Z"), End: hour("2026-11-13T00:00:00Z"), Status: AnswerAccepted,
			AnsweredAt: hour("2026-11-10T01:00:00Z"), AcceptedGPUs: 8},
		{ID: "req-3", AskedAt: hour("2026-11-20T00:00:00Z"), GPUs: 8, GPUModel: "H100",
			Start: hour("2026-11-21T00:00:00Z"), End: hour("2026-11-22T00:00:00Z"), Status: AnswerNone,
			AnsweredAt: hour("2026-11-20T12:00:00Z"), Releases: []Release{{"aws", 8}}},
	}
	if !reflect.DeepEqual(reqs, want) {
		t.Errorf("requests =\n%+v\nwant\n%+v", reqs, want)
	}
	// Released from the first whole hour after a late answer, else from the period's start.
	if got := reqs[0].ReleasedFrom(); !got.Equal(hour("2026-11-01T10:00:00Z")) {
		t.Errorf("req-1 released from %v, want 10:00 (answered 09:30 during the period)", got)
	}
	if got := reqs[2].ReleasedFrom(); !got.Equal(reqs[2].Start) {
		t.Errorf("req-3 released from %v, want the period's start", got)
	}
	if reqs[0].Refused() != 12 || reqs[1].Refused() != 0 || reqs[2].Refused() != 8 {
		t.Errorf("refused %d %d %d, want 12 0 8", reqs[0].Refused(), reqs[1].Refused(), reqs[2].Refused())
	}
	// The commitments beside them are read as always; a file without the keys has no primary.
	if f, err := Parse("f.yaml", []byte(data)); err != nil || len(f.Commitments) != 2 {
		t.Errorf("Parse: %d commitments, %v", len(f.Commitments), err)
	}
	if prim, reqs, err := parseRequests("f.yaml", []byte(requestsBase)); err != nil || prim.Provider != "" || reqs != nil {
		t.Errorf("without requests: %+v %+v %v", prim, reqs, err)
	}
}

func TestParseRequestsProblems(t *testing.T) {
	const primary = "primary: {provider: azure, commitments: [az-nd]}\nrequests:\n"
	// The answer is on line 20, the releases on line 21 (requestsBase is 12 lines, then primary and requests:).
	req := func(answer, releases string) string {
		return requestsBase + primary + `  - id: r
    asked: 2026-10-30T00:00:00Z
    gpus: 16
    gpu_model: H100
    period: {start: 2026-11-01T00:00:00Z, end: 2026-11-03T00:00:00Z}
    answer: ` + answer + `
    releases: ` + releases + "\n"
	}
	for _, tc := range []struct {
		name, data string
		want       []string // each a problem's "LINE: PATH: message" start
	}{
		{"answer before the request", req("{status: declined, at: 2026-10-29T00:00:00Z}", "[{provider: oracle_cloud, gpus: 16}]"),
			[]string{"f.yaml:20: requests[0] (id r): answer.at: 2026-10-29T00:00:00Z is before the request was asked (2026-10-30T00:00:00Z)"}},
		{"released count above the request", req("{status: declined, at: 2026-10-31T00:00:00Z}", "[{provider: oracle_cloud, gpus: 20}]"),
			[]string{"f.yaml:21: requests[0] (id r): releases[0].gpus: releases 20 GPUs in all, more than the 16 the primary refused (16 asked, 0 accepted)"}},
		{"released above a partial refusal", req("{status: partial, at: 2026-10-31T00:00:00Z, accepted_gpus: 10}", "[{provider: oracle_cloud, gpus: 4}, {provider: aws, gpus: 4}]"),
			[]string{"f.yaml:21: requests[0] (id r): releases[1].gpus: releases 8 GPUs in all, more than the 6 the primary refused (16 asked, 10 accepted)"}},
		{"unknown provider", req("{status: declined, at: 2026-10-31T00:00:00Z}", "[{provider: orcale_cloud, gpus: 16}]"),
			[]string{"f.yaml:21: requests[0] (id r): releases[0].provider: unknown provider \"orcale_cloud\": neither a known cloud nor the provider of a commitment in this file (did you mean oracle_cloud?)"}},
		{"two releases to one provider", req("{status: declined, at: 2026-10-31T00:00:00Z}", "[{provider: aws, gpus: 4}, {provider: aws, gpus: 4}]"),
			[]string{"f.yaml:21: requests[0] (id r): releases[1].provider: aws already has releases[0]"}},
		{"release to the primary", req("{status: declined, at: 2026-10-31T00:00:00Z}", "[{provider: azure, gpus: 16}]"),
			[]string{"f.yaml:21: requests[0] (id r): releases[0].provider: azure is the primary"}},
		{"accepted releases nothing", req("{status: accepted, at: 2026-10-31T00:00:00Z}", "[{provider: oracle_cloud, gpus: 16}]"),
			[]string{"f.yaml:21: requests[0] (id r): releases: the request was accepted"}},
		{"no answer is no refusal by default", req("{status: none, deadline: 2026-10-31T00:00:00Z}", "[{provider: oracle_cloud, gpus: 16}]"),
			[]string{"f.yaml:21: requests[0] (id r): releases: the request has no answer and primary.no_answer_is_refusal is not true"}},
		{"unknown status and typo", req("{status: refused, att: 2026-10-31T00:00:00Z}", "[]"),
			[]string{"f.yaml:20: requests[0] (id r): answer.att: unknown field (did you mean at?)",
				"f.yaml:20: requests[0] (id r): answer.status: unknown status \"refused\""}},
		{"partial without a count", req("{status: partial, at: 2026-10-31T00:00:00Z}", "[]"),
			[]string{"f.yaml:20: requests[0] (id r): answer.accepted_gpus: missing"}},
		{"primary names another provider's commitment",
			requestsBase + "primary: {provider: azure, commitments: [oci-use, az-nb]}\n",
			[]string{"f.yaml:13: primary: commitments[0]: oci-use is a oracle_cloud commitment",
				"f.yaml:13: primary: commitments[1]: \"az-nb\" is not a commitment of this file (did you mean az-nd?)"}},
		{"requests without a primary", requestsBase + "requests: []\n",
			[]string{"f.yaml:13: primary: missing"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := parseRequests("f.yaml", []byte(tc.data))
			var ps Problems
			if !errors.As(err, &ps) {
				t.Fatalf("err = %v, want Problems", err)
			}
			if len(ps) != len(tc.want) {
				t.Fatalf("got %d problems:\n%v\nwant %d", len(ps), err, len(tc.want))
			}
			for i, w := range tc.want {
				if !strings.HasPrefix(ps[i].Error(), w) {
					t.Errorf("problem %d:\n got %s\nwant %s...", i, ps[i].Error(), w)
				}
			}
		})
	}
}

// The demo's story (deploy/local/demo.sh fills in the times) parses: a request to Azure partly declined, releasing 8
// GPUs to OCI until 6 hours before the end.
func TestDemoRequestsParse(t *testing.T) {
	f := parseDemoFile(t)
	prim, reqs := f.Primary, f.Requests
	if prim.Provider != "azure" || len(reqs) != 1 || reqs[0].Status != AnswerPartial || reqs[0].Refused() != 8 ||
		len(reqs[0].Releases) != 1 || reqs[0].Releases[0] != (Release{"oracle_cloud", 8}) {
		t.Errorf("demo primary %+v, requests %+v", prim, reqs)
	}
}

// parseRequests is Parse seen from the requests' side.
func parseRequests(name string, data []byte) (Primary, []Request, error) {
	f, err := Parse(name, data)
	return f.Primary, f.Requests, err
}
