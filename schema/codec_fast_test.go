package schema

import (
	"encoding/binary"
	"encoding/json"
	"math/bits"
	"reflect"
	"strings"
	"testing"
	"time"
)

// fastCorpus is the fast decoder's test input: what agents write, and every form it must hand to encoding/json.
func fastCorpus(t testing.TB) [][]byte {
	good, err := Encode(new(sampleRecord()))
	if err != nil {
		t.Fatal(err)
	}
	partial := sampleRecord()
	partial.Namespace, partial.Pod, partial.Team, partial.Zone, partial.Account = "", "", "", "", ""
	partial.BusySeconds, partial.EnergyJoules, partial.PowerAvgWatts = nil, nil, nil
	partial.MIGProfile, partial.ParentGPUUUID = "1g.10gb", "GPU-parent"
	partial.ProvisionedSeconds, partial.AllocatedSeconds = 42.123456789, 1e-9
	partialB, _ := Encode(&partial)
	s := string(good)
	repl := func(old, new string) []byte { return []byte(strings.Replace(s, old, new, 1)) }
	in := []string{
		s, string(partialB), " \t\n" + s + "\r\n ", strings.ReplaceAll(s, ",", " , "), strings.ReplaceAll(s, `":`, "\" :\n"),
		"", "{}", "{ }", "[]", "null", "{", "}", `{"v":1}`, `{"v":1,}`, `{,"v":1}`, `{"v" 1}`, `{"v":1 "node":"n"}`,
		s + "x", s + " {}", s + "}", "x" + s,
		string(repl(`"v":1`, `"v":1.0`)), string(repl(`"v":1`, `"v":1e0`)), string(repl(`"v":1`, `"v":-1`)),
		string(repl(`"v":1`, `"v":01`)), string(repl(`"v":1`, `"v":2`)), string(repl(`"v":1`, `"v":"1"`)),
		string(repl(`"v":1`, `"v":null`)), string(repl(`"v":1`, `"v":99999999999999999999`)),
		string(repl(`"v":1,`, ``)), string(repl(`"v":1`, `"V":1`)), string(repl(`"v":1`, `"v":1,"v":1`)),
		string(repl(`"node":"aks-ndh100-0001"`, `"node":"aks-\u00e9"`)), string(repl(`"node":"aks-ndh100-0001"`, `"node":"aks-é"`)),
		string(repl(`"node":"aks-ndh100-0001"`, `"node":"a\"b"`)), string(repl(`"node":"aks-ndh100-0001"`, "\"node\":\"a\tb\"")),
		string(repl(`"node":"aks-ndh100-0001"`, "\"node\":\"a\xffb\"")), string(repl(`"node":"aks-ndh100-0001"`, `"node":5`)),
		string(repl(`"node":"aks-ndh100-0001"`, `"node":null`)), string(repl(`"node":"aks-ndh100-0001"`, `"node":""`)),
		string(repl(`"node":"aks-ndh100-0001"`, `"Node":"x"`)), string(repl(`"node":"aks-ndh100-0001"`, `"nod\u0065":"x"`)),
		string(repl(`"node":"aks-ndh100-0001"`, `"node":"x","future":{"a":[1,2]}`)),
		string(repl(`"gpu_index":3`, `"gpu_index":-3`)), string(repl(`"gpu_index":3`, `"gpu_index":-0`)),
		string(repl(`"gpu_index":3`, `"gpu_index":3.5`)), string(repl(`"gpu_index":3`, `"gpu_index":-`)),
		string(repl(`"samples":60`, `"samples":4294967296`)), string(repl(`"samples":60`, `"samples":4294967295`)),
		string(repl(`"samples":60`, `"samples":-1`)), string(repl(`"samples":60`, `"samples":6e1`)),
		string(repl(`"memory_total_bytes":85899345920`, `"memory_total_bytes":18446744073709551616`)),
		string(repl(`"memory_total_bytes":85899345920`, `"memory_total_bytes":18446744073709551615`)),
		string(repl(`"busy_seconds":42`, `"busy_seconds":null`)), string(repl(`"busy_seconds":42`, `"busy_seconds":4.2e1`)),
		string(repl(`"busy_seconds":42`, `"busy_seconds":42.`)), string(repl(`"busy_seconds":42`, `"busy_seconds":.5`)),
		string(repl(`"busy_seconds":42`, `"busy_seconds":1e400`)), string(repl(`"busy_seconds":42`, `"busy_seconds":-0`)),
		string(repl(`"busy_seconds":42`, `"busy_seconds":"42"`)), string(repl(`"busy_seconds":42`, `"busy_seconds":nul`)),
		string(repl(`"busy_seconds":42`, `"busy_seconds":61`)), string(repl(`"provisioned_seconds":60`, `"provisioned_seconds":null`)),
		string(repl(`"provisioned_seconds":60`, `"provisioned_seconds":6E+1`)), string(repl(`"provisioned_seconds":60`, `"provisioned_seconds":6e-`)),
		string(repl(`"2026-11-24T13:00:00Z"`, `"2026-11-24T13:00:00.5+01:00"`)), string(repl(`"2026-11-24T13:00:00Z"`, `"2026-11-24 13:00:00Z"`)),
		string(repl(`"2026-11-24T13:00:00Z"`, `"2026-11-24T13:00:00"`)), string(repl(`"2026-11-24T13:00:00Z"`, `null`)),
		string(repl(`"2026-11-24T13:00:00Z"`, `1700000000`)), string(repl(`"2026-11-24T13:00:00Z"`, `"2026-11-24T24:00:00Z"`)),
		string(repl(`"2026-11-24T13:00:00Z"`, `"2026-11-24T13:00:00.123456789Z"`)),
	}
	// Times: the exact UTC form takes a shortcut, everything else goes to time.Time's parser.
	for _, ts := range []string{
		"2028-02-29T00:00:00Z", "2026-02-29T00:00:00Z", "2000-02-29T12:00:00Z", "2100-02-29T12:00:00Z",
		"2026-04-31T00:00:00Z", "2026-04-30T23:59:59Z", "2026-12-31T23:59:59Z", "2026-13-01T00:00:00Z",
		"2026-00-01T00:00:00Z", "2026-01-00T00:00:00Z", "2026-01-32T00:00:00Z", "2026-11-24T23:60:00Z",
		"2026-11-24T23:00:60Z", "2026-11-24T13:00:00z", "2026-11-24t13:00:00Z", "2026-11-24T13:00:00.000Z",
		"2026-11-24T13:00:00+00:00", "2026-11-24T08:30:00-05:30", "2026-11-24T13:00:00+24:00", "0000-01-01T00:00:00Z",
		"9999-12-31T23:59:59Z", "1969-12-31T23:59:59Z", "1970-01-01T00:00:00Z", "2106-01-01T00:00:00Z",
		"2106-01-01T00:00:01Z", "2026-1a-24T13:00:00Z", "2026-11-24T1:00:00Z", "2026-11-24T13:00:00ZZ",
		"+2026-11-24T13:00:00Z", "2026-11-24T13:00:00", "2026-11-24 13:00:00Z", "20261124T130000Z",
		"-026-11-24T13:00:00Z", "2026-11-24T13:0:000Z", "2026-11-24T13:00:0aZ",
	} {
		in = append(in, string(repl(`"window_start":"2026-11-24T13:00:00Z"`, `"window_start":"`+ts+`"`)),
			string(repl(`"interval_start":"2026-11-24T13:00:00Z"`, `"interval_start":"`+ts+`"`)))
	}
	// Strings: a byte the fast path must refuse, at every place of an 8-byte word.
	for n := range 18 {
		for _, c := range []string{"\t", "\x7f", "\x80", "é", `\"`, `\\`, `\u0041`, "\x00", "\x1f", " ", "~"} {
			in = append(in, string(repl(`"node":"aks-ndh100-0001"`, `"node":"`+strings.Repeat("x", n)+c+`y"`)))
		}
	}
	// Numbers around the shortcut's 15 digits, and keys out of Encode's order.
	for _, n := range []string{"999999999999999", "9999999999999999", "9007199254740993", "123456789012345678",
		"1234567890123456789", "12345678901234567890", "0.5", "1E2", "-0", "-5", "00"} {
		in = append(in, string(repl(`"memory_used_avg_bytes":61203283968`, `"memory_used_avg_bytes":`+n)),
			string(repl(`"memory_used_max_bytes":62277025792`, `"memory_used_max_bytes":`+n)),
			string(repl(`"gpu_index":3`, `"gpu_index":`+n)), string(repl(`"v":1`, `"v":`+n)))
	}
	noTimes := s
	for _, f := range []string{"interval_start", "interval_end", "window_start", "window_end"} {
		noTimes = strings.Replace(noTimes, `"`+f+`":"2026-11-24T13:0`+map[bool]string{true: "0", false: "1"}[strings.HasSuffix(f, "start")]+`:00Z",`, "", 1)
	}
	in = append(in, noTimes, `{"samples":60,`+strings.TrimPrefix(strings.Replace(s, `,"samples":60`, "", 1), "{"),
		string(repl(`"v":1,`, ``))[:len(s)-7]+`,"v":1}`, string(repl(`"node":"aks-ndh100-0001"`, `"node":"aks-ndh100-0001","node":"x"`)),
		string(repl(`"node":"aks-ndh100-0001",`, ``)), string(repl(`"gpu_uuid":`, `"gpu_uuid" :`)),
		string(repl(`"busy_seconds":42,`, ``)), string(repl(`"busy_seconds":42,`, `"energy_joules":1,`)))
	out := make([][]byte, len(in))
	for i, v := range in {
		out[i] = []byte(v)
	}
	return out
}

// The fast path's keys are Record's JSON names, in its order.
func TestFieldKeys(t *testing.T) {
	typ := reflect.TypeFor[Record]()
	if typ.NumField() != len(fieldKeys) {
		t.Fatalf("Record has %d fields, fieldKeys %d", typ.NumField(), len(fieldKeys))
	}
	for i := range typ.NumField() {
		if name, _, _ := strings.Cut(typ.Field(i).Tag.Get("json"), ","); name != fieldKeys[i] {
			t.Errorf("field %d: json name %q, fieldKeys %q", i, name, fieldKeys[i])
		}
		if fieldIndex([]byte(fieldKeys[i])) != i {
			t.Errorf("fieldIndex(%q) = %d, want %d", fieldKeys[i], fieldIndex([]byte(fieldKeys[i])), i)
		}
	}
}

// notPlain finds the first byte of a word that the byte table calls not plain, wherever it is.
func TestNotPlain(t *testing.T) {
	for c := range 256 {
		for at := range 8 {
			w := []byte("abcdefgh")
			w[at] = byte(c)
			first := -1
			for i, b := range w {
				if !plain[b] {
					first = i
					break
				}
			}
			m := notPlain(binary.LittleEndian.Uint64(w))
			got := -1
			if m != 0 {
				got = bits.TrailingZeros64(m) >> 3
			}
			if got != first {
				t.Fatalf("%q: notPlain says byte %d, the table %d", w, got, first)
			}
		}
	}
}

// A Decoder's records never share the memory of their measures.
func TestDecoderMeasuresApart(t *testing.T) {
	msg := must(Encode(new(sampleRecord())))
	var d Decoder
	now := time.Date(2026, 11, 24, 13, 30, 0, 0, time.UTC)
	a, b := must(d.DecodeAt(msg, now)), must(d.DecodeAt(msg, now))
	*a.BusySeconds, *a.EnergyJoules = 1, 2
	if *b.BusySeconds != 42 || *b.EnergyJoules != 31500 || *a.PowerAvgWatts != 525 || *b.PowerAvgWatts != 525 {
		t.Errorf("measures shared: %v %v %v / %v %v %v", *a.BusySeconds, *a.EnergyJoules, *a.PowerAvgWatts,
			*b.BusySeconds, *b.EnergyJoules, *b.PowerAvgWatts)
	}
}

// TestDecodeFastEqualsJSON: on every input, Decode gives what it gives through encoding/json alone, the same record or
// the same error; and the fast path takes the records agents write.
func TestDecodeFastEqualsJSON(t *testing.T) {
	corpus := fastCorpus(t)
	for _, b := range corpus {
		compareDecoders(t, b)
	}
	for _, b := range corpus[:5] {
		if !decodeFast(b, new(Record), nil) {
			t.Errorf("fast path refused an agent's record: %s", b)
		}
	}
}

func compareDecoders(t *testing.T, b []byte) {
	t.Helper()
	fast, ferr := decode(b, true, nil)
	ref, rerr := decode(b, false, nil)
	if (ferr == nil) != (rerr == nil) || ferr != nil && ferr.Error() != rerr.Error() {
		t.Fatalf("%q: fast path error %v, encoding/json error %v", b, ferr, rerr)
	}
	if !reflect.DeepEqual(fast, ref) {
		t.Fatalf("%q: fast path decoded\n%+v\nencoding/json\n%+v", b, fast, ref)
	}
	now := time.Date(2026, 11, 24, 13, 30, 0, 0, time.UTC)
	var d Decoder
	for _, primed := range [][]byte{nil, must(Encode(new(sampleRecord())))} {
		if primed != nil { // the Decoder keeps an agent's record's values and times, as in a batch
			if _, err := d.DecodeAt(primed, now); err != nil {
				t.Fatal(err)
			}
		}
		got, err := d.DecodeAt(b, now)
		want, werr := DecodeAt(b, now)
		if (err == nil) != (werr == nil) || err != nil && err.Error() != werr.Error() || !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: Decoder (primed %t) gave %+v, %v; DecodeAt %+v, %v", b, primed != nil, got, err, want, werr)
		}
	}
	for range 2 { // the second time from the kept values
		got, err := d.DecodeAt(b, now)
		want, werr := DecodeAt(b, now)
		if (err == nil) != (werr == nil) || err != nil && err.Error() != werr.Error() || !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: Decoder gave %+v, %v; DecodeAt %+v, %v", b, got, err, want, werr)
		}
	}
	// What the fast path takes, encoding/json reads the same way before any validation.
	var r Record
	if decodeFast(b, &r, nil) {
		var want Record
		if err := json.Unmarshal(b, &want); err != nil {
			t.Fatalf("%q: fast path accepted what encoding/json refuses: %v", b, err)
		}
		if !reflect.DeepEqual(r, want) {
			t.Fatalf("%q: fast path parsed\n%+v\nencoding/json\n%+v", b, r, want)
		}
	}
}

func FuzzDecodeFast(f *testing.F) {
	for _, b := range fastCorpus(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) { compareDecoders(t, b) })
}

func TestDecodeFastTimesKeepLocation(t *testing.T) {
	b := []byte(strings.Replace(string(must(Encode(new(sampleRecord())))), `"window_end":"2026-11-24T13:01:00Z"`,
		`"window_end":"2026-11-24T14:01:00+01:00"`, 1))
	var r Record
	if !decodeFast(b, &r, nil) {
		t.Fatal("fast path refused an offset time")
	}
	if _, off := r.WindowEnd.Zone(); off != 3600 || !r.WindowEnd.Equal(time.Date(2026, 11, 24, 13, 1, 0, 0, time.UTC)) {
		t.Errorf("window_end %v", r.WindowEnd)
	}
}

func BenchmarkDecodeJSON(b *testing.B) {
	msg, _ := Encode(new(sampleRecord()))
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := decode(msg, false, nil); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecoder(b *testing.B) {
	msg, _ := Encode(new(sampleRecord()))
	now := time.Date(2026, 11, 24, 13, 30, 0, 0, time.UTC)
	var d Decoder
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.DecodeAt(msg, now); err != nil {
			b.Fatal(err)
		}
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
