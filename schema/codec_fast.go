package schema

import (
	"strconv"
	"time"
)

// decodeFast parses the common form of a v1 record, the one schema.Encode writes: one JSON object whose keys are all
// v1 field names, spelled exactly, each at most once, with values of the field's type: strings without escapes or
// non-ASCII bytes, integers in plain digits, numbers in JSON's grammar, null only for the optional measures. On such
// input it yields exactly what encoding/json yields (the same strconv parsers, time.Time's own UnmarshalJSON). On
// anything else, valid or not, it says no and Decode hands the message to encoding/json, whose result and error
// messages stay the reference (TestDecodeFastEqualsJSON, FuzzDecodeFast). It is a fast path and never an error path:
// several times faster than encoding/json on an agent's record (BenchmarkDecode against BenchmarkDecodeJSON), which
// was most of the collector's CPU (BENCHMARKS.md).
//
// strs, when not nil, holds one copy of the values of the low-cardinality string fields (interned), see Decoder.
func decodeFast(b []byte, r *Record, strs map[string]string) bool {
	p := fastParser{b: b, strs: strs}
	p.space()
	if !p.byte('{') {
		return false
	}
	var seen uint32
	p.space()
	if p.byte('}') {
		return p.end()
	}
	for {
		p.space()
		key, ok := p.rawString()
		if !ok {
			return false
		}
		p.space()
		if !p.byte(':') {
			return false
		}
		p.space()
		f := fieldIndex(key)
		if f < 0 || seen&(1<<f) != 0 {
			return false // unknown (a newer agent's, or another spelling) or repeated: encoding/json decides
		}
		seen |= 1 << f
		if !p.value(f, r) {
			return false
		}
		p.space()
		if p.byte(',') {
			continue
		}
		if p.byte('}') {
			return p.end()
		}
		return false
	}
}

// The v1 fields, by the index fieldIndex gives them.
const (
	fV = iota
	fNode
	fProvider
	fRegion
	fZone
	fInstanceType
	fAccount
	fGPUUUID
	fGPUIndex
	fGPUModel
	fMIGProfile
	fParentGPUUUID
	fNamespace
	fPod
	fTeam
	fIntervalStart
	fIntervalEnd
	fWindowStart
	fWindowEnd
	fProvisioned
	fAllocated
	fBusy
	fMemAvg
	fMemMax
	fMemTotal
	fEnergy
	fPower
	fSamples
)

func fieldIndex(key []byte) int {
	switch string(key) { // no allocation: the compiler compares the bytes
	case "v":
		return fV
	case "node":
		return fNode
	case "provider":
		return fProvider
	case "region":
		return fRegion
	case "zone":
		return fZone
	case "instance_type":
		return fInstanceType
	case "account":
		return fAccount
	case "gpu_uuid":
		return fGPUUUID
	case "gpu_index":
		return fGPUIndex
	case "gpu_model":
		return fGPUModel
	case "mig_profile":
		return fMIGProfile
	case "parent_gpu_uuid":
		return fParentGPUUUID
	case "namespace":
		return fNamespace
	case "pod":
		return fPod
	case "team":
		return fTeam
	case "interval_start":
		return fIntervalStart
	case "interval_end":
		return fIntervalEnd
	case "window_start":
		return fWindowStart
	case "window_end":
		return fWindowEnd
	case "provisioned_seconds":
		return fProvisioned
	case "allocated_seconds":
		return fAllocated
	case "busy_seconds":
		return fBusy
	case "memory_used_avg_bytes":
		return fMemAvg
	case "memory_used_max_bytes":
		return fMemMax
	case "memory_total_bytes":
		return fMemTotal
	case "energy_joules":
		return fEnergy
	case "power_avg_watts":
		return fPower
	case "samples":
		return fSamples
	}
	return -1
}

type fastParser struct {
	b    []byte
	i    int
	strs map[string]string
}

func (p *fastParser) space() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *fastParser) byte(c byte) bool {
	if p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

// end: nothing but white space may follow the object.
func (p *fastParser) end() bool {
	p.space()
	return p.i == len(p.b)
}

// rawString reads a string of printable ASCII without escapes and returns its bytes, without the quotes.
func (p *fastParser) rawString() ([]byte, bool) {
	if !p.byte('"') {
		return nil, false
	}
	start := p.i
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			s := p.b[start:p.i]
			p.i++
			return s, true
		case c == '\\' || c < 0x20 || c >= 0x80:
			return nil, false // escapes, control characters and UTF-8: encoding/json's rules apply
		}
		p.i++
	}
	return nil, false
}

// number reads a JSON number literal (RFC 8259 grammar) and says whether it is an integer in plain digits.
func (p *fastParser) number() (lit []byte, integer, ok bool) {
	start := p.i
	p.byte('-')
	switch {
	case p.byte('0'):
	case p.i < len(p.b) && p.b[p.i] >= '1' && p.b[p.i] <= '9':
		p.digits()
	default:
		return nil, false, false
	}
	integer = true
	if p.byte('.') {
		integer = false
		if !p.digits() {
			return nil, false, false
		}
	}
	if p.byte('e') || p.byte('E') {
		integer = false
		if !p.byte('+') {
			p.byte('-')
		}
		if !p.digits() {
			return nil, false, false
		}
	}
	return p.b[start:p.i], integer, true
}

func (p *fastParser) digits() bool {
	start := p.i
	for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
		p.i++
	}
	return p.i > start
}

func (p *fastParser) null() bool {
	if len(p.b)-p.i >= 4 && string(p.b[p.i:p.i+4]) == "null" {
		p.i += 4
		return true
	}
	return false
}

// value reads field f's value into r, with encoding/json's conversions.
func (p *fastParser) value(f int, r *Record) bool {
	switch f {
	case fNode, fProvider, fRegion, fZone, fInstanceType, fAccount, fGPUUUID, fGPUModel, fMIGProfile,
		fParentGPUUUID, fNamespace, fPod, fTeam:
		s, ok := p.rawString()
		if !ok {
			return false
		}
		*stringField(r, f) = p.str(s, f)
		return true
	case fIntervalStart, fIntervalEnd, fWindowStart, fWindowEnd:
		start := p.i
		if _, ok := p.rawString(); !ok {
			return false
		}
		return timeField(r, f).UnmarshalJSON(p.b[start:p.i]) == nil
	case fV, fGPUIndex:
		lit, integer, ok := p.number()
		if !ok || !integer {
			return false
		}
		n, err := strconv.ParseInt(string(lit), 10, strconv.IntSize) // encoding/json refuses what overflows int
		if err != nil {
			return false
		}
		if f == fV {
			r.Version = int(n)
		} else {
			r.GPUIndex = int(n)
		}
		return true
	case fMemMax, fMemTotal, fSamples:
		lit, integer, ok := p.number()
		if !ok || !integer || lit[0] == '-' {
			return false
		}
		bits := 64
		if f == fSamples {
			bits = 32
		}
		n, err := strconv.ParseUint(string(lit), 10, bits)
		if err != nil {
			return false
		}
		switch f {
		case fMemMax:
			r.MemoryUsedMaxBytes = n
		case fMemTotal:
			r.MemoryTotalBytes = n
		default:
			r.Samples = uint32(n)
		}
		return true
	case fProvisioned, fAllocated, fMemAvg:
		v, ok := p.float()
		if !ok {
			return false
		}
		switch f {
		case fProvisioned:
			r.ProvisionedSeconds = v
		case fAllocated:
			r.AllocatedSeconds = v
		default:
			r.MemoryUsedAvgBytes = v
		}
		return true
	case fBusy, fEnergy, fPower:
		dst := &r.BusySeconds
		switch f {
		case fEnergy:
			dst = &r.EnergyJoules
		case fPower:
			dst = &r.PowerAvgWatts
		}
		if p.null() {
			*dst = nil
			return true
		}
		v, ok := p.float()
		if !ok {
			return false
		}
		*dst = &v
		return true
	}
	return false
}

// str returns s as a string: the kept copy for a field whose values repeat across records (not GPU UUIDs or pods).
func (p *fastParser) str(s []byte, f int) string {
	if p.strs == nil || f == fGPUUUID || f == fParentGPUUUID || f == fPod {
		return string(s)
	}
	if v, ok := p.strs[string(s)]; ok { // no allocation for the lookup
		return v
	}
	v := string(s)
	if len(p.strs) < maxInterned {
		p.strs[v] = v
	}
	return v
}

func (p *fastParser) float() (float64, bool) {
	lit, _, ok := p.number()
	if !ok {
		return 0, false
	}
	v, err := strconv.ParseFloat(string(lit), 64)
	return v, err == nil
}

func stringField(r *Record, f int) *string {
	switch f {
	case fNode:
		return &r.Node
	case fProvider:
		return &r.Provider
	case fRegion:
		return &r.Region
	case fZone:
		return &r.Zone
	case fInstanceType:
		return &r.InstanceType
	case fAccount:
		return &r.Account
	case fGPUUUID:
		return &r.GPUUUID
	case fGPUModel:
		return &r.GPUModel
	case fMIGProfile:
		return &r.MIGProfile
	case fParentGPUUUID:
		return &r.ParentGPUUUID
	case fNamespace:
		return &r.Namespace
	case fPod:
		return &r.Pod
	default:
		return &r.Team
	}
}

func timeField(r *Record, f int) *time.Time {
	switch f {
	case fIntervalStart:
		return &r.IntervalStart
	case fIntervalEnd:
		return &r.IntervalEnd
	case fWindowStart:
		return &r.WindowStart
	default:
		return &r.WindowEnd
	}
}
