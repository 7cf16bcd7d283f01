package commitment

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/gpumeter/gpumeter/internal/cloudprovider"
)

// Right of first refusal (schema/README.md, "Right of first refusal"): the primary provider holds the right to supply
// new capacity; the file's requests record what was asked of it and what it answered, and which overflow providers a
// refusal released capacity to.

// Answer statuses of a capacity request.
const (
	AnswerAccepted = "accepted" // the primary supplies all of it: nothing released
	AnswerPartial  = "partial"  // the primary supplies accepted_gpus of it: the rest may be released
	AnswerDeclined = "declined" // the primary supplies none of it: all may be released
	AnswerNone     = "none"     // no answer by the deadline: a refusal when primary.no_answer_is_refusal says so
)

// DefaultMaxUncoveredGPUHours24h is the GPUCommitmentROFRExposure threshold when primary.alerts does not set one: any
// uncovered overflow GPU-hour in the last 24 hours fires it.
const DefaultMaxUncoveredGPUHours24h = 0

// Primary is the provider holding the right of first refusal and the commitments whose overflow it governs.
type Primary struct {
	Provider    string
	Commitments []string
	// NoAnswerIsRefusal says the agreement counts a request unanswered by its deadline as declined.
	NoAnswerIsRefusal bool
	// MaxUncoveredGPUHours24h is the alert threshold on uncovered overflow GPU-hours in the last 24 complete hours.
	MaxUncoveredGPUHours24h float64
}

// Request is one request for capacity made to the primary provider.
type Request struct {
	ID           string
	AskedAt      time.Time
	GPUs         int
	GPUModel     string // what was asked for: a GPU model and/or an instance type, in a region
	InstanceType string
	Region       string
	Start, End   time.Time // the period the capacity was asked for, whole UTC hours
	Status       string    // AnswerAccepted, AnswerPartial, AnswerDeclined or AnswerNone
	AnsweredAt   time.Time // when the primary answered; the deadline for AnswerNone
	AcceptedGPUs int       // GPUs the primary supplies: all for accepted (and for none unless no answer is a refusal), 0 for declined
	Releases     []Release
}

// Release is the capacity a refusal lets one overflow provider supply: up to GPUs GPUs in every hour of [From, End).
type Release struct {
	Provider string
	GPUs     int
}

// Refused is the number of GPUs the primary did not supply.
func (r Request) Refused() int { return r.GPUs - r.AcceptedGPUs }

// ReleasedFrom is the first hour a release covers: the period's start, or the first whole hour after the answer (the
// deadline when unanswered) when that is later.
func (r Request) ReleasedFrom() time.Time {
	from := r.AnsweredAt.Truncate(time.Hour)
	if from.Before(r.AnsweredAt) {
		from = from.Add(time.Hour)
	}
	if from.Before(r.Start) {
		return r.Start
	}
	return from
}

var (
	primaryFields = []string{"provider", "commitments", "no_answer_is_refusal", "alerts"}
	primaryAlerts = []string{"max_uncovered_gpu_hours_24h"}
	requestFields = []string{"id", "asked", "gpus", "gpu_model", "instance_type", "region", "period", "answer", "releases"}
	answerFields  = []string{"status", "at", "accepted_gpus", "deadline"}
	releaseFields = []string{"provider", "gpus"}
)

// rootMapping is the file's top mapping, or nil where parseFile has already said why there is none.
func rootMapping(data []byte) *yaml.Node {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil || len(doc.Content) == 0 {
		return nil
	}
	if root := deref(doc.Content[0]); root.Kind == yaml.MappingNode {
		return root
	}
	return nil
}

func (p *parser) requests(root *yaml.Node, cs []Commitment) (Primary, []Request) {
	prim := Primary{MaxUncoveredGPUHours24h: DefaultMaxUncoveredGPUHours24h}
	pn, rn := lookup(root, "primary"), lookup(root, "requests")
	if pn != nil && pn.ShortTag() == "!!null" {
		pn = nil
	}
	if rn != nil && rn.ShortTag() == "!!null" {
		rn = nil
	}
	if pn == nil {
		if rn != nil {
			p.add(rn, "", "primary", "missing: requests need a primary: {provider: ..., commitments: [...]} naming who holds the right of first refusal")
		}
		return prim, nil
	}
	primOK := p.primary(&prim, pn, cs)
	if rn == nil {
		return prim, nil
	}
	if rn.Kind != yaml.SequenceNode {
		p.add(rn, "", "requests", "want a list of capacity requests, got %s", describe(rn))
		return prim, nil
	}
	// Providers a release may name: the known clouds and every provider of a commitment in the file.
	known := slices.Clone(cloudprovider.OpenTelemetryValues())
	for _, c := range cs {
		if c.Provider != "" && !slices.Contains(known, c.Provider) {
			known = append(known, c.Provider)
		}
	}
	ids := map[string]int{}
	out := make([]Request, 0, len(rn.Content))
	for i, item := range rn.Content {
		out = append(out, p.request(i, deref(item), prim, primOK, known, ids))
	}
	return prim, out
}

func (p *parser) primary(prim *Primary, n *yaml.Node, cs []Commitment) bool {
	const where = "primary"
	if n.Kind != yaml.MappingNode {
		p.add(n, "", where, "want {provider: ..., commitments: [...]}, got %s", describe(n))
		return false
	}
	f := p.mapping(n, where, "", primaryFields)
	ok := true
	if v := f.get("provider"); v == nil {
		p.add(n, where, "provider", "missing: the provider holding the right of first refusal")
		ok = false
	} else {
		prim.Provider = p.str(v, where, "provider")
		if msg := providerProblem(prim.Provider); msg != "" {
			p.add(v, where, "provider", "%s", msg)
			ok = false
		}
	}
	byID := map[string]Commitment{}
	for _, c := range cs {
		byID[c.ID] = c
	}
	if v := f.get("commitments"); v == nil {
		p.add(n, where, "commitments", "missing: the ids of the primary's commitments whose overflow the right governs")
	} else if v.Kind != yaml.SequenceNode || len(v.Content) == 0 {
		p.add(v, where, "commitments", "want a non-empty list of commitment ids, got %s", describe(v))
	} else {
		ids := make([]string, 0, len(byID))
		for id := range byID {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		for j, item := range v.Content {
			item = deref(item)
			field := fmt.Sprintf("commitments[%d]", j)
			id := p.str(item, where, field)
			c, found := byID[id]
			switch {
			case id == "":
			case !found:
				hint := ""
				if near := nearest(id, ids); near != "" {
					hint = fmt.Sprintf(" (did you mean %s?)", near)
				}
				p.add(item, where, field, "%q is not a commitment of this file%s", id, hint)
			case ok && c.Provider != prim.Provider:
				p.add(item, where, field, "%s is a %s commitment, not one of the primary's (%s)", id, c.Provider, prim.Provider)
			case slices.Contains(prim.Commitments, id):
				p.add(item, where, field, "%s is listed twice", id)
			default:
				prim.Commitments = append(prim.Commitments, id)
			}
		}
	}
	if v := f.get("no_answer_is_refusal"); v != nil {
		if v.Kind != yaml.ScalarNode || v.ShortTag() != "!!bool" {
			p.add(v, where, "no_answer_is_refusal", "want true or false, got %s", describe(v))
		} else {
			prim.NoAnswerIsRefusal = v.Value == "true"
		}
	}
	if v := f.get("alerts"); v != nil {
		a := p.mapping(v, where, "alerts.", primaryAlerts)
		if x := a.get("max_uncovered_gpu_hours_24h"); x != nil {
			if val, okN := p.number(x, where, "alerts.max_uncovered_gpu_hours_24h"); okN {
				if val < 0 {
					p.add(x, where, "alerts.max_uncovered_gpu_hours_24h", "%s: must not be negative", x.Value)
				} else {
					prim.MaxUncoveredGPUHours24h = val
				}
			}
		}
	}
	return ok
}

func (p *parser) request(i int, n *yaml.Node, prim Primary, primOK bool, known []string, ids map[string]int) Request {
	var r Request
	where := itemWhere("requests", i, n)
	if n.Kind != yaml.MappingNode {
		p.add(n, where, "request", "want a mapping of fields (id, asked, gpus, period, answer, ...), got %s", describe(n))
		return r
	}
	f := p.mapping(n, where, "", requestFields)
	if v := f.get("id"); v == nil {
		p.add(n, where, "id", "missing")
	} else if r.ID = p.str(v, where, "id"); r.ID != "" {
		if first, dup := ids[r.ID]; dup {
			p.add(v, where, "id", "duplicate: requests[%d] has the same id", first)
		} else if !idPattern.MatchString(r.ID) {
			p.add(v, where, "id", "%q: %s", r.ID, idRule)
		} else {
			ids[r.ID] = i
		}
	}
	askedOK := false
	if v := f.get("asked"); v == nil {
		p.add(n, where, "asked", "missing: when the capacity was asked of the primary (RFC 3339)")
	} else {
		r.AskedAt, askedOK = p.time(v, where, "asked")
	}
	gpusOK := false
	if v := f.get("gpus"); v == nil {
		p.add(n, where, "gpus", "missing: how many GPUs were asked for")
	} else {
		r.GPUs, gpusOK = p.count(v, where, "gpus", 1)
	}
	r.GPUModel = p.optStr(f.get("gpu_model"), where, "gpu_model")
	r.InstanceType = p.optStr(f.get("instance_type"), where, "instance_type")
	r.Region = p.optStr(f.get("region"), where, "region")
	if r.GPUModel == "" && r.InstanceType == "" {
		p.add(n, where, "gpu_model", "missing: say what was asked for (gpu_model and/or instance_type)")
	}
	if v := f.get("period"); v == nil {
		p.add(n, where, "period", "missing: {start: ..., end: ...}, whole UTC hours")
	} else {
		var c Commitment
		p.term(&c, v, where)
		r.Start, r.End = c.Start, c.End
	}

	answerOK := false
	if v := f.get("answer"); v == nil {
		p.add(n, where, "answer", "missing: {status: accepted, partial, declined or none, at: ...}")
	} else {
		answerOK = p.answer(&r, v, where, askedOK, gpusOK, prim)
	}

	rel := f.get("releases")
	switch {
	case rel == nil:
	case rel.Kind != yaml.SequenceNode:
		p.add(rel, where, "releases", "want a list of {provider, gpus}, got %s", describe(rel))
	default:
		if len(rel.Content) > 0 && r.GPUModel == "" {
			p.add(rel, where, "gpu_model", "missing: the overflow GPUs a refusal releases are matched by GPU model")
		}
		if answerOK && r.Refused() == 0 {
			what := "was accepted"
			if r.Status == AnswerNone {
				what = "has no answer and primary.no_answer_is_refusal is not true"
			}
			p.add(rel, where, "releases", "the request %s: nothing was refused, so nothing can be released", what)
		}
		total := 0
		seen := map[string]int{}
		for j, item := range rel.Content {
			item = deref(item)
			field := fmt.Sprintf("releases[%d]", j)
			if item.Kind != yaml.MappingNode {
				p.add(item, where, field, "want {provider, gpus}, got %s", describe(item))
				continue
			}
			rf := p.mapping(item, where, field+".", releaseFields)
			var x Release
			if v := rf.get("provider"); v == nil {
				p.add(item, where, field+".provider", "missing: the overflow provider the refusal lets supply the capacity")
			} else {
				x.Provider = p.str(v, where, field+".provider")
				first, dup := seen[x.Provider]
				switch msg := providerProblem(x.Provider); {
				case x.Provider == "":
				case dup:
					p.add(v, where, field+".provider", "%s already has releases[%d]: give each provider one release", x.Provider, first)
				case msg != "":
					p.add(v, where, field+".provider", "%s", msg)
				case primOK && x.Provider == prim.Provider:
					p.add(v, where, field+".provider", "%s is the primary: a refusal releases capacity to other providers", x.Provider)
				case !slices.Contains(known, x.Provider):
					hint := strings.Join(known, ", ")
					if near := nearest(x.Provider, known); near != "" {
						hint = "did you mean " + near + "?"
					}
					p.add(v, where, field+".provider", "unknown provider %q: neither a known cloud nor the provider of a commitment in this file (%s)", x.Provider, hint)
				}
				if !dup {
					seen[x.Provider] = j
				}
			}
			if v := rf.get("gpus"); v == nil {
				p.add(item, where, field+".gpus", "missing: how many GPUs the refusal releases to this provider")
			} else if g, ok := p.count(v, where, field+".gpus", 1); ok {
				x.GPUs = g
				total += g
				if answerOK && r.Refused() > 0 && total > r.Refused() {
					p.add(v, where, field+".gpus", "releases %d GPUs in all, more than the %d the primary refused (%d asked, %d accepted)",
						total, r.Refused(), r.GPUs, r.AcceptedGPUs)
				}
			}
			r.Releases = append(r.Releases, x)
		}
	}
	return r
}

func (p *parser) answer(r *Request, v *yaml.Node, where string, askedOK, gpusOK bool, prim Primary) bool {
	if v.Kind != yaml.MappingNode {
		p.add(v, where, "answer", "want {status: accepted, partial, declined or none, at: ...}, got %s", describe(v))
		return false
	}
	a := p.mapping(v, where, "answer.", answerFields)
	sn := a.get("status")
	if sn == nil {
		p.add(v, where, "answer.status", "missing: accepted, partial, declined or none")
		return false
	}
	r.Status = p.str(sn, where, "answer.status")
	ok := askedOK && gpusOK
	timeField := "answer.at"
	switch r.Status {
	case AnswerAccepted, AnswerPartial, AnswerDeclined:
		if a.get("deadline") != nil {
			p.add(a.get("deadline"), where, "answer.deadline", "only an unanswered request (status none) has a deadline; %s has answer.at", r.Status)
		}
	case AnswerNone:
		timeField = "answer.deadline"
		if a.get("at") != nil {
			p.add(a.get("at"), where, "answer.at", "status none has no answer time: give answer.deadline")
		}
	default:
		p.add(sn, where, "answer.status", "unknown status %q: accepted, partial (with accepted_gpus), declined or none (with a deadline)", r.Status)
		return false
	}
	tn := a.get(strings.TrimPrefix(timeField, "answer."))
	if tn == nil {
		p.add(v, where, timeField, "missing")
		ok = false
	} else if t, tok := p.time(tn, where, timeField); !tok {
		ok = false
	} else {
		r.AnsweredAt = t
		if askedOK && t.Before(r.AskedAt) {
			p.add(tn, where, timeField, "%s is before the request was asked (%s)", t.Format(time.RFC3339), r.AskedAt.Format(time.RFC3339))
			ok = false
		}
	}
	an := a.get("accepted_gpus")
	switch {
	case r.Status == AnswerPartial && an == nil:
		p.add(v, where, "answer.accepted_gpus", "missing: a partial answer says how many GPUs the primary accepted")
		ok = false
	case r.Status == AnswerPartial:
		n, nok := p.count(an, where, "answer.accepted_gpus", 1)
		if nok && gpusOK && n >= r.GPUs {
			p.add(an, where, "answer.accepted_gpus", "%d: a partial answer accepts fewer than the %d GPUs asked (or write status accepted)", n, r.GPUs)
			nok = false
		}
		r.AcceptedGPUs = n
		ok = ok && nok
	case an != nil:
		p.add(an, where, "answer.accepted_gpus", "only a partial answer has accepted_gpus")
	case r.Status == AnswerAccepted:
		r.AcceptedGPUs = r.GPUs
	case r.Status == AnswerNone && !prim.NoAnswerIsRefusal:
		// No answer is no refusal unless the agreement says so: nothing is released.
		r.AcceptedGPUs = r.GPUs
	}
	return ok
}

// count reads a whole number of at least min.
func (p *parser) count(n *yaml.Node, where, field string, minimum int) (int, bool) {
	x, ok := p.number(n, where, field)
	switch {
	case !ok:
		return 0, false
	case x != float64(int(x)) || x < float64(minimum) || x > 1e6:
		p.add(n, where, field, "%s: want a whole number of GPUs from %d to 1000000", n.Value, minimum)
		return 0, false
	}
	return int(x), true
}
