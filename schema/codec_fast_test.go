package schema

import (
	"encoding/json"
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
	out := make([][]byte, len(in))
	for i, v := range in {
		out[i] = []byte(v)
	}
	return out
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
