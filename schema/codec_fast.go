package schema

import (
	"encoding/binary"
	"math"
	"math/bits"
	"strconv"
	"strings"
	"time"
)

// decodeFast parses the common form of a v1 record, the one schema.Encode writes: one JSON object whose keys are all
// v1 field names, spelled exactly, each at most once, with values of the field's type: strings without escapes or
// non-ASCII bytes, integers in plain digits, numbers in JSON's grammar, null only for the optional measures. On such
// input it yields exactly what encoding/json yields (the same strconv parsers, time.Time's own UnmarshalJSON, or
// shortcuts that give the same values: times in the exact UTC form agents write, integers of at most 15 digits). On
// anything else, valid or not, it says no and Decode hands the message to encoding/json, whose result and error
// messages stay the reference (TestDecodeFastEqualsJSON, FuzzDecodeFast). It is a fast path and never an error path:
// several times faster than encoding/json on an agent's record (BenchmarkDecode against BenchmarkDecodeJSON), which
// was most of the collector's CPU (BENCHMARKS.md).
//
// d, when not nil, holds one copy of the values of the low-cardinality string fields (interned) and the memory the
// optional measures point into, see Decoder.
func decodeFast(b []byte, r *Record, d *Decoder) bool {
	p := fastParser{b: b, d: d}
	p.space()
	if !p.byte('{') {
		return false
	}
	var seen uint32
	p.space()
	if p.byte('}') {
		return p.end()
	}
	next := fV // the field Encode writes next (or one of the few after it, which omitempty may leave out)
	for {
		p.space()
		f := p.expectedKey(next)
		if f < 0 {
			key, ok := p.rawString()
			if !ok {
				return false
			}
			p.space()
			if !p.byte(':') {
				return false
			}
			f = fieldIndex(key)
		}
		p.space()
		if f < 0 || seen&(1<<f) != 0 {
			return false // unknown (a newer agent's, or another spelling) or repeated: encoding/json decides
		}
		seen |= 1 << f
		next = f + 1
		if !p.value(f, r) {
			return false
		}
		p.space()
		if p.byte(',') {
			continue
		}
		if p.byte('}') {
			if !p.end() {
				return false
			}
			p.copyStrings(r)
			return true
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

// fieldKeys are the v1 fields' JSON keys, by field index (TestFieldKeys checks them against Record's tags).
var fieldKeys = [...]string{fV: "v", fNode: "node", fProvider: "provider", fRegion: "region", fZone: "zone",
	fInstanceType: "instance_type", fAccount: "account", fGPUUUID: "gpu_uuid", fGPUIndex: "gpu_index",
	fGPUModel: "gpu_model", fMIGProfile: "mig_profile", fParentGPUUUID: "parent_gpu_uuid", fNamespace: "namespace",
	fPod: "pod", fTeam: "team", fIntervalStart: "interval_start", fIntervalEnd: "interval_end",
	fWindowStart: "window_start", fWindowEnd: "window_end", fProvisioned: "provisioned_seconds",
	fAllocated: "allocated_seconds", fBusy: "busy_seconds", fMemAvg: "memory_used_avg_bytes",
	fMemMax: "memory_used_max_bytes", fMemTotal: "memory_total_bytes", fEnergy: "energy_joules",
	fPower: "power_avg_watts", fSamples: "samples"}

// fieldNames are the keys as Encode writes them, quoted and with their colon.
var fieldNames = func() (names [len(fieldKeys)]string) {
	for f, k := range fieldKeys {
		names[f] = `"` + k + `":`
	}
	return names
}()

// maxSkipped is how many fields after the one expected next expectedKey also tries (omitempty leaves some out).
const maxSkipped = 4

// expectedKey reads the key of field next, or of one of the maxSkipped after it, with its colon, when the input
// holds exactly that (the order Encode writes); it says which field, or -1, leaving the input for the general path.
func (p *fastParser) expectedKey(next int) int {
	rest := p.b[p.i:]
	for f := next; f <= min(next+maxSkipped, len(fieldNames)-1); f++ {
		if name := fieldNames[f]; len(rest) >= len(name) && string(rest[:len(name)]) == name {
			p.i += len(name)
			return f
		}
	}
	return -1
}

// fieldIndex is the field whose key is key exactly, or -1.
func fieldIndex(key []byte) int {
	for f, k := range fieldKeys {
		if string(key) == k {
			return f
		}
	}
	return -1
}

type fastParser struct {
	b []byte
	i int
	d *Decoder
	// The string fields that are not interned, as spans of b: copied into one allocation once the record parsed
	// (copyStrings), rather than one each.
	spans  [fTeam + 1]span
	nspans int
	// What the optional measures point into, when there is no Decoder: one allocation for the three.
	floats *[3]float64
}

type span struct{ f, start, end int }

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

// plain says which bytes a string may hold on the fast path: printable ASCII but the quote and the backslash.
var plain = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// rawString reads a string of printable ASCII without escapes and returns its bytes, without the quotes.
func (p *fastParser) rawString() ([]byte, bool) {
	b, i := p.b, p.i
	if i >= len(b) || b[i] != '"' {
		return nil, false
	}
	i++
	start := i
	for i+8 <= len(b) {
		if m := notPlain(binary.LittleEndian.Uint64(b[i:])); m != 0 {
			i += bits.TrailingZeros64(m) >> 3 // the first byte that is not plain
			goto done
		}
		i += 8
	}
	for i < len(b) && plain[b[i]] {
		i++
	}
done:
	if i >= len(b) || b[i] != '"' {
		return nil, false // escapes, control characters and UTF-8: encoding/json's rules apply
	}
	p.i = i + 1
	return b[start:i], true
}

// notPlain marks the bytes of w (read little-endian) that are not plain with their high bit (SWAR): the first such
// byte exactly; the ones after it may be marked wrongly (a borrow), which is never read.
func notPlain(w uint64) uint64 {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	ctl := w - 0x20*ones                         // a byte < 0x20
	quote := (w ^ '"'*ones) - ones               // a '"'
	backslash := (w ^ '\\'*ones) - ones          // a '\\'
	return (ctl | quote | backslash | w) & highs // w: a byte >= 0x80
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

// maxExactDigits: an integer of at most this many digits is exact in a float64 (below 2^53) and in an int64, so
// converting it by hand gives what strconv gives.
const maxExactDigits = 15

// smallUint is the value of lit when it is plain digits, at most maxExactDigits of them.
func smallUint(lit []byte) (uint64, bool) {
	if len(lit) == 0 || len(lit) > maxExactDigits {
		return 0, false
	}
	var n uint64
	for _, c := range lit {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	return n, true
}

// smallInt is smallUint with an optional minus sign.
func smallInt(lit []byte) (int64, bool) {
	if len(lit) > 0 && lit[0] == '-' {
		u, ok := smallUint(lit[1:])
		return -int64(u), ok
	}
	u, ok := smallUint(lit)
	return int64(u), ok
}

// value reads field f's value into r, with encoding/json's conversions.
func (p *fastParser) value(f int, r *Record) bool {
	switch f {
	case fNode, fProvider, fRegion, fZone, fInstanceType, fAccount, fGPUUUID, fGPUModel, fMIGProfile,
		fParentGPUUUID, fNamespace, fPod, fTeam:
		start := p.i + 1
		s, ok := p.rawString()
		if !ok {
			return false
		}
		p.str(r, s, f, start)
		return true
	case fIntervalStart, fIntervalEnd, fWindowStart, fWindowEnd:
		start := p.i
		s, ok := p.rawString()
		if !ok {
			return false
		}
		if p.d != nil {
			if t, ok := p.d.times.parse(f-fIntervalStart, s); ok {
				*timeField(r, f) = t
				return true
			}
		} else if t, ok := utcTime(s); ok {
			*timeField(r, f) = t
			return true
		}
		return timeField(r, f).UnmarshalJSON(p.b[start:p.i]) == nil
	case fV, fGPUIndex:
		lit, integer, ok := p.number()
		if !ok || !integer {
			return false
		}
		n, ok := smallInt(lit)
		if !ok {
			var err error
			if n, err = strconv.ParseInt(string(lit), 10, strconv.IntSize); err != nil {
				return false // encoding/json refuses what overflows int
			}
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
		n, ok := smallUint(lit)
		if !ok {
			var err error
			if n, err = strconv.ParseUint(string(lit), 10, bits); err != nil {
				return false
			}
		}
		switch f {
		case fMemMax:
			r.MemoryUsedMaxBytes = n
		case fMemTotal:
			r.MemoryTotalBytes = n
		default:
			if n > math.MaxUint32 {
				return false
			}
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
		dst, slot := &r.BusySeconds, 0
		switch f {
		case fEnergy:
			dst, slot = &r.EnergyJoules, 1
		case fPower:
			dst, slot = &r.PowerAvgWatts, 2
		}
		if p.null() {
			*dst = nil
			return true
		}
		v, ok := p.float()
		if !ok {
			return false
		}
		*dst = p.newFloat(slot, v)
		return true
	}
	return false
}

// newFloat returns a pointer to v: into the Decoder's slab, or into the record's own three (busy seconds, energy and
// power each have their slot, so a pointer is never shared between fields).
func (p *fastParser) newFloat(slot int, v float64) *float64 {
	if p.d != nil {
		if len(p.d.floats) == 0 {
			p.d.floats = make([]float64, floatSlab)
		}
		x := &p.d.floats[0]
		p.d.floats = p.d.floats[1:]
		*x = v
		return x
	}
	if p.floats == nil {
		p.floats = new([3]float64)
	}
	x := &p.floats[slot]
	*x = v
	return x
}

// floatSlab is how many optional measures one allocation of a Decoder holds (each record points into it for as
// long as the record lives; a batch of records frees its slabs with itself).
const floatSlab = 1024

// str sets string field f to s, which starts at b[start]: the kept copy for a field whose values repeat across
// records (not GPU UUIDs or pods); else noted, to be copied with the record's other such strings (copyStrings).
func (p *fastParser) str(r *Record, s []byte, f, start int) {
	if p.d == nil || f == fGPUUUID || f == fParentGPUUUID || f == fPod {
		if len(s) == 0 {
			*stringField(r, f) = ""
			return
		}
		p.spans[p.nspans] = span{f, start, start + len(s)}
		p.nspans++
		return
	}
	*stringField(r, f) = p.d.intern(f, s)
}

// copyStrings copies the noted strings out of the message, all in one allocation.
func (p *fastParser) copyStrings(r *Record) {
	if p.nspans == 0 {
		return
	}
	n := 0
	for _, s := range p.spans[:p.nspans] {
		n += s.end - s.start
	}
	var sb strings.Builder
	sb.Grow(n)
	for _, s := range p.spans[:p.nspans] {
		sb.Write(p.b[s.start:s.end])
	}
	all, at := sb.String(), 0
	for _, s := range p.spans[:p.nspans] {
		l := s.end - s.start
		*stringField(r, s.f) = all[at : at+l]
		at += l
	}
}

func (p *fastParser) float() (float64, bool) {
	lit, integer, ok := p.number()
	if !ok {
		return 0, false
	}
	if integer {
		if n, ok := smallUint(lit); ok {
			return float64(n), true // exact, as strconv's
		}
	}
	v, err := strconv.ParseFloat(string(lit), 64)
	return v, err == nil
}

// timeCache keeps, per time field, the last value utcTime parsed: a node's records, and a fleet's records of one
// interval, carry the same four times.
type timeCache struct {
	raw [4][len("2006-01-02T15:04:05Z")]byte
	t   [4]time.Time // zero: none kept
}

// parse is utcTime(s), from the kept value of time field k when s is its text.
func (c *timeCache) parse(k int, s []byte) (time.Time, bool) {
	if !c.t[k].IsZero() && string(s) == string(c.raw[k][:]) {
		return c.t[k], true
	}
	t, ok := utcTime(s)
	if ok {
		copy(c.raw[k][:], s)
		c.t[k] = t
	}
	return t, ok
}

// utcTime parses the form agents write, "2006-01-02T15:04:05Z" exactly, with time.Time.UnmarshalJSON's ranges and
// result; anything else (fractions, offsets, other forms) says no, for UnmarshalJSON to read.
func utcTime(s []byte) (time.Time, bool) {
	if len(s) != len("2006-01-02T15:04:05Z") || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' ||
		s[16] != ':' || s[19] != 'Z' {
		return time.Time{}, false
	}
	ok := true
	num := func(b []byte, lo, hi int) int {
		x := 0
		for _, c := range b {
			if c < '0' || c > '9' {
				ok = false
				return lo
			}
			x = x*10 + int(c-'0')
		}
		if x < lo || x > hi {
			ok = false
		}
		return x
	}
	year := num(s[0:4], 0, 9999)
	month := num(s[5:7], 1, 12)
	day := num(s[8:10], 1, 31)
	hour := num(s[11:13], 0, 23)
	minute := num(s[14:16], 0, 59)
	sec := num(s[17:19], 0, 59)
	if !ok || day > daysIn(month, year) {
		return time.Time{}, false
	}
	return time.Date(year, time.Month(month), day, hour, minute, sec, 0, time.UTC), true
}

func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
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
