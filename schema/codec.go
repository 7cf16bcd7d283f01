package schema

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"
)

// ErrUnknownVersion is wrapped by Decode when a record carries a schema version this build does not understand.
var ErrUnknownVersion = errors.New("unknown schema version")

// ErrMalformed is wrapped by Decode when a message is not a well-formed record.
var ErrMalformed = errors.New("malformed record")

// Encode writes r as one line of JSON. JSON because people read records with kcat while debugging. Decode reads what
// Encode writes with a parser of its own (decodeFast), several times faster than encoding/json, which decodes
// everything else (BenchmarkDecode and schema/README.md).
func Encode(r *Record) ([]byte, error) {
	if r.Version == 0 {
		r.Version = Version
	}
	b, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("encode record for %s/%s: %w", r.Node, r.GPUUUID, err)
	}
	return b, nil
}

// Decode parses and validates one record (Validate: every rule that needs no clock; DecodeAt adds the clock's). Its
// errors wrap ErrUnknownVersion, ErrMalformed or are *InvalidError, so a caller can dead-letter the message with the
// reason and keep going. A message over MaxRecordBytes is refused before a Record is built from it, naming its largest
// field.
func Decode(b []byte) (Record, error) {
	if len(b) > MaxRecordBytes {
		return Record{}, oversized(b)
	}
	return decode(b, true, nil)
}

// decode is Decode, with or without the fast path (decodeFast, with d's interned values when not nil); tests compare
// the two.
func decode(b []byte, fast bool, d *Decoder) (Record, error) {
	if fast {
		var r Record
		if decodeFast(b, &r, d) {
			return check(&r, d)
		}
	}
	var r Record
	if err := json.Unmarshal(b, &r); err != nil {
		// A future version may change a field's type; report the version rather than the type error it caused.
		if v, ok := peekVersion(b); ok && !slices.Contains(SupportedVersions, v) {
			return Record{}, fmt.Errorf("%w %d (this build reads %v)", ErrUnknownVersion, v, SupportedVersions)
		}
		return Record{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return check(&r, nil)
}

// check applies the version rules and Validate to a parsed record (with d's kept times when not nil).
func check(r *Record, d *Decoder) (Record, error) {
	if r.Version == 0 {
		return Record{}, fmt.Errorf("%w: missing schema version field \"v\"", ErrMalformed)
	}
	if !slices.Contains(SupportedVersions, r.Version) {
		return Record{}, fmt.Errorf("%w %d (this build reads %v)", ErrUnknownVersion, r.Version, SupportedVersions)
	}
	var valid *[4]time.Time
	if d != nil {
		valid = &d.validTimes
	}
	if err := r.validate(valid); err != nil {
		return Record{}, err
	}
	return *r, nil
}

// DecodeAt is Decode plus the rule that needs a clock (ValidateAt): the collector passes its time of reading.
func DecodeAt(b []byte, now time.Time) (Record, error) {
	return decodeAt(b, now, nil)
}

// Decoder is DecodeAt for many records: the values that many records repeat (node, provider, region, instance type,
// model, team...) are kept once, so that a batch of records does not hold a copy of each per record. Its zero value is
// ready; it is not safe for concurrent use.
type Decoder struct {
	strs map[string]string
	// last is the value each interned field had in the record before: records come in runs of one node's GPUs, so
	// it is mostly the value, found without hashing.
	last   [fTeam + 1]string
	floats []float64 // what the optional measures of the next records point into (floatSlab at a time)
	times  timeCache
	// validTimes are the four times of the last record whose times passed checkTimes: the next, when it has the same
	// (its node's next GPU, most often), passes too.
	validTimes [4]time.Time
}

// maxInterned bounds a Decoder's kept values; past it, new values are copied per record, as DecodeAt does.
const maxInterned = 1 << 16

// DecodeAt is schema.DecodeAt, with the same result and errors.
func (d *Decoder) DecodeAt(b []byte, now time.Time) (Record, error) {
	return decodeAt(b, now, d)
}

// intern returns s as a string, the kept copy when there is one (string field f).
func (d *Decoder) intern(f int, s []byte) string {
	if v := d.last[f]; v == string(s) { // no allocation for the comparison
		return v
	}
	if d.strs == nil {
		d.strs = make(map[string]string, 1024)
	}
	v, ok := d.strs[string(s)] // nor for the lookup
	if !ok {
		v = string(s)
		if len(d.strs) < maxInterned {
			d.strs[v] = v
		}
	}
	d.last[f] = v
	return v
}

func decodeAt(b []byte, now time.Time, d *Decoder) (Record, error) {
	if len(b) > MaxRecordBytes {
		return Record{}, oversized(b)
	}
	r, err := decode(b, true, d)
	if err != nil {
		return Record{}, err
	}
	if err := r.checkFuture(now); err != nil {
		return Record{}, err
	}
	return r, nil
}

// oversized explains why a message over MaxRecordBytes is refused: which field makes it so large, when it parses.
func oversized(b []byte) error {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(b, &fields); err != nil {
		return fmt.Errorf("%w: %d bytes, over the limit of %d for a record", ErrMalformed, len(b), MaxRecordBytes)
	}
	largest, size := "", 0
	for name, raw := range fields {
		if len(raw) > size {
			largest, size = name, len(raw)
		}
	}
	var s string
	if json.Unmarshal(fields[largest], &s) == nil {
		size = len(s)
	}
	if len(largest) > 64 { // the name itself can be the oversized part; the error must stay short
		largest = largest[:64] + "…"
	}
	reason := fmt.Sprintf("%d bytes, the largest field of a %d-byte record (limit %d bytes a record", size, len(b), MaxRecordBytes)
	if limit, ok := fieldLimit(largest); ok {
		reason += fmt.Sprintf(", %d for %s", limit, largest)
	}
	return invalid(largest, "%s)", reason)
}

func peekVersion(b []byte) (int, bool) {
	var p struct {
		V *int `json:"v"`
	}
	if json.Unmarshal(b, &p) != nil || p.V == nil {
		return 0, false
	}
	return *p.V, true
}
