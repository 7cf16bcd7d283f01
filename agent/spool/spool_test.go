package spool

import (
	"bytes"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var base = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// entry i carries its number in Value, padded to about size bytes of frame.
func entry(i, size int) Entry {
	v := []byte(fmt.Sprintf("rec-%08d;", i))
	if pad := size - len(v) - 40; pad > 0 {
		v = append(v, bytes.Repeat([]byte{'x'}, pad)...)
	}
	return Entry{
		Key:     []byte("node-a"),
		Value:   v,
		Seconds: float64(i%60) + 0.5,
		Time:    base.Add(time.Duration(i) * time.Second).Add(123456789),
	}
}

func entries(from, to, size int) []Entry {
	var es []Entry
	for i := from; i < to; i++ {
		es = append(es, entry(i, size))
	}
	return es
}

func id(t testing.TB, e Entry) int {
	t.Helper()
	s, _, ok := strings.Cut(string(e.Value), ";")
	n, err := strconv.Atoi(strings.TrimPrefix(s, "rec-"))
	if !ok || err != nil {
		t.Fatalf("entry value %.40q is not one of ours", e.Value)
	}
	return n
}

func ids(t testing.TB, es []Entry) []int {
	t.Helper()
	out := []int{}
	for _, e := range es {
		out = append(out, id(t, e))
	}
	return out
}

func seq(from, to int) []int {
	out := []int{}
	for i := from; i < to; i++ {
		out = append(out, i)
	}
	return out
}

func equalEntry(a, b Entry) bool {
	return bytes.Equal(a.Key, b.Key) && bytes.Equal(a.Value, b.Value) && a.Seconds == b.Seconds && a.Time.Equal(b.Time)
}

// logBuf collects log output.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// lines returns the log lines at level that contain substr.
func (l *logBuf) lines(level, substr string) []string {
	var out []string
	for _, ln := range strings.Split(l.String(), "\n") {
		if strings.Contains(ln, "level="+level) && strings.Contains(ln, substr) {
			out = append(out, ln)
		}
	}
	return out
}

func newLog() (*slog.Logger, *logBuf) {
	lb := &logBuf{}
	return slog.New(slog.NewTextHandler(lb, &slog.HandlerOptions{Level: slog.LevelDebug})), lb
}

func open(t testing.TB, opts Options) *Spool {
	t.Helper()
	if opts.Log == nil {
		opts.Log, _ = newLog()
	}
	if opts.FreeBytes == nil { // hermetic: the machine's free disk does not change what a test sees
		opts.FreeBytes = func(string) (int64, error) { return 1 << 50, nil }
	}
	s, err := Open(opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

func mustAppend(t testing.TB, s *Spool, es []Entry) {
	t.Helper()
	if err := s.Append(es); err != nil {
		t.Fatalf("Append: %v", err)
	}
}

// drain reads and acknowledges everything, max entries at a time.
func drain(t testing.TB, s *Spool, max int) []Entry {
	t.Helper()
	var all []Entry
	for {
		es, c, err := s.Read(max)
		if err != nil {
			t.Fatalf("Read: %v", err)
		}
		if len(es) == 0 {
			if !c.IsZero() {
				t.Fatalf("empty Read returned a cursor %+v", c)
			}
			return all
		}
		if len(es) > max {
			t.Fatalf("Read(%d) returned %d entries", max, len(es))
		}
		all = append(all, es...)
		if err := s.Ack(c); err != nil {
			t.Fatalf("Ack: %v", err)
		}
	}
}

// peek returns every pending entry without acknowledging.
func peek(t testing.TB, s *Spool) []Entry {
	t.Helper()
	es, _, err := s.Read(math.MaxInt32)
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	return es
}

func segFiles(t testing.TB, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*"+segmentSuffix))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func quarantineFiles(t testing.TB, dir string) []os.DirEntry {
	t.Helper()
	des, err := os.ReadDir(filepath.Join(dir, quarantineDir))
	if err != nil {
		t.Fatal(err)
	}
	return des
}

func diskBytes(t testing.TB, dir string) int64 {
	t.Helper()
	var n int64
	for _, p := range segFiles(t, dir) {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		n += st.Size()
	}
	return n
}

func TestFrameRoundTrip(t *testing.T) {
	for _, e := range []Entry{
		{},
		{Key: []byte("k"), Value: []byte("v"), Seconds: 60, Time: base},
		{Key: bytes.Repeat([]byte("k"), 300), Seconds: -1.25, Time: time.Unix(-5, 999999999)},
		{Value: bytes.Repeat([]byte("v"), 70000), Seconds: math.Inf(1), Time: base.In(time.FixedZone("x", 3600))},
	} {
		b := appendFrame(nil, &e)
		if len(b) != frameLen(&e) {
			t.Fatalf("frame is %d bytes, frameLen says %d", len(b), frameLen(&e))
		}
		fr := newFrameReader()
		fr.reset(bytes.NewReader(b), 0, int64(len(b)))
		got, n, err := fr.next(nil)
		if err != nil || n != int64(len(b)) {
			t.Fatalf("next: %v, %d bytes", err, n)
		}
		if !equalEntry(got, e) || got.Time.Location() != time.UTC {
			t.Fatalf("round trip: got %+v, want %+v", got, e)
		}
	}
}

func TestAppendReadAckOrder(t *testing.T) {
	for _, tc := range []struct {
		name           string
		n, size, batch int
		segBytes       int64
		readMax        int
	}{
		{"one segment", 100, 600, 8, 0, 10},
		{"many segments", 500, 600, 48, 16 << 10, 37},
		{"one entry per segment", 50, 600, 7, 100, 3},
		{"read all at once", 1000, 300, 48, 8 << 10, 5000},
		{"read one at a time", 120, 600, 1, 4 << 10, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			s := open(t, Options{Dir: dir, SegmentBytes: tc.segBytes})
			defer s.Close()
			want := entries(0, tc.n, tc.size)
			for i := 0; i < tc.n; i += tc.batch {
				mustAppend(t, s, want[i:min(i+tc.batch, tc.n)])
			}
			st := s.Stats()
			if st.Entries != tc.n || st.Bytes != diskBytes(t, dir) {
				t.Fatalf("Stats %+v, want %d entries and %d bytes", st, tc.n, diskBytes(t, dir))
			}
			if tc.segBytes > 0 && st.Segments < 2 {
				t.Fatalf("want several segments, got %d", st.Segments)
			}
			got := drain(t, s, tc.readMax)
			if len(got) != tc.n {
				t.Fatalf("drained %d entries, want %d", len(got), tc.n)
			}
			for i := range got {
				if !equalEntry(got[i], want[i]) {
					t.Fatalf("entry %d: got %d %+v", i, id(t, got[i]), got[i].Time)
				}
			}
			st = s.Stats()
			if st.Entries != 0 || st.OldestAge != 0 {
				t.Fatalf("after drain: %+v", st)
			}
			// Only the segment still being appended to may remain.
			if n := len(segFiles(t, dir)); n > 1 || st.Segments != n {
				t.Fatalf("%d segment files remain (Stats: %d), want at most 1", n, st.Segments)
			}
		})
	}
}

func TestReadBeforeAckReturnsSame(t *testing.T) {
	s := open(t, Options{Dir: t.TempDir(), SegmentBytes: 2000})
	defer s.Close()
	mustAppend(t, s, entries(0, 20, 300))

	a, ca, err := s.Read(7)
	if err != nil {
		t.Fatal(err)
	}
	b, cb, err := s.Read(7)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(ids(t, a)) != fmt.Sprint(seq(0, 7)) || fmt.Sprint(ids(t, b)) != fmt.Sprint(ids(t, a)) || ca != cb {
		t.Fatalf("reads before ack: %v (%+v) then %v (%+v)", ids(t, a), ca, ids(t, b), cb)
	}
	// A smaller read returns a prefix.
	if c, _, _ := s.Read(3); fmt.Sprint(ids(t, c)) != fmt.Sprint(seq(0, 3)) {
		t.Fatalf("Read(3): %v", ids(t, c))
	}
	if err := s.Ack(Cursor{}); err != nil {
		t.Fatalf("Ack(zero): %v", err)
	}
	if err := s.Ack(ca); err != nil {
		t.Fatal(err)
	}
	if err := s.Ack(ca); err != nil { // again: stale, ignored
		t.Fatalf("second Ack of the same cursor: %v", err)
	}
	d, cd, _ := s.Read(7)
	if fmt.Sprint(ids(t, d)) != fmt.Sprint(seq(7, 14)) {
		t.Fatalf("after ack: %v", ids(t, d))
	}
	// Acknowledging an older cursor after a newer one changes nothing.
	if err := s.Ack(cd); err != nil {
		t.Fatal(err)
	}
	if err := s.Ack(ca); err != nil {
		t.Fatal(err)
	}
	if got := ids(t, peek(t, s)); fmt.Sprint(got) != fmt.Sprint(seq(14, 20)) {
		t.Fatalf("after acking a stale cursor: %v", got)
	}
	if _, _, err := s.Read(0); err == nil {
		t.Fatal("Read(0) did not fail")
	}
}

func TestReopen(t *testing.T) {
	for _, tc := range []struct {
		name  string
		acked int // entries acknowledged before Close
	}{
		{"no ack", 0},
		{"partial ack inside a segment", 13},
		{"ack at a segment boundary", 10},
		{"ack across segments", 47},
		{"everything acked", 60},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			// 10 entries of 200 bytes per segment.
			opts := Options{Dir: dir, SegmentBytes: 2000}
			s := open(t, opts)
			for i := 0; i < 60; i += 8 {
				mustAppend(t, s, entries(i, min(i+8, 60), 200))
			}
			if tc.acked > 0 {
				es, c, err := s.Read(tc.acked)
				if err != nil || len(es) != tc.acked {
					t.Fatalf("Read: %d, %v", len(es), err)
				}
				if err := s.Ack(c); err != nil {
					t.Fatal(err)
				}
			}
			lastSeq := uint64(0)
			for _, p := range segFiles(t, dir) {
				sq, _ := parseSegmentName(filepath.Base(p))
				lastSeq = max(lastSeq, sq)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}

			s = open(t, opts)
			defer s.Close()
			if st := s.Stats(); st.Entries != 60-tc.acked {
				t.Fatalf("reopened Stats: %+v, want %d entries", st, 60-tc.acked)
			}
			if got := ids(t, peek(t, s)); fmt.Sprint(got) != fmt.Sprint(seq(tc.acked, 60)) {
				t.Fatalf("reopened: got %v, want %v", got, seq(tc.acked, 60))
			}
			// Appends go to a new segment after every old one.
			mustAppend(t, s, entries(60, 61, 200))
			for _, p := range segFiles(t, dir) {
				if sq, _ := parseSegmentName(filepath.Base(p)); sq > lastSeq+1 {
					t.Fatalf("new segment %s, want sequence %d", p, lastSeq+1)
				}
			}
			if got := ids(t, drain(t, s, 9)); fmt.Sprint(got) != fmt.Sprint(seq(tc.acked, 61)) {
				t.Fatalf("after append: got %v", got)
			}
			// Everything acknowledged: a third Open replays nothing, and new entries are not mistaken for acked.
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s2 := open(t, opts)
			defer s2.Close()
			if got := peek(t, s2); len(got) != 0 {
				t.Fatalf("third open replays %v", ids(t, got))
			}
			mustAppend(t, s2, entries(61, 62, 200))
			if err := s2.Close(); err != nil {
				t.Fatal(err)
			}
			s3 := open(t, opts)
			defer s3.Close()
			if got := ids(t, peek(t, s3)); fmt.Sprint(got) != "[61]" {
				t.Fatalf("fourth open: %v, want [61]", got)
			}
		})
	}
}

// copyDir copies the regular files of a spool directory (not quarantine/).
func copyDir(t testing.TB, from, to string) {
	t.Helper()
	des, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	for _, de := range des {
		if !de.Type().IsRegular() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(from, de.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, de.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

func TestTruncatedLastEntry(t *testing.T) {
	pristine := t.TempDir()
	s := open(t, Options{Dir: pristine})
	mustAppend(t, s, entries(0, 5, 150))
	lastStart := s.Stats().Bytes
	mustAppend(t, s, entries(5, 6, 150))
	end := s.Stats().Bytes
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	files := segFiles(t, pristine)
	if len(files) != 1 {
		t.Fatalf("want one segment, got %v", files)
	}
	segName := filepath.Base(files[0])

	for cut := lastStart; cut < end; cut++ {
		t.Run(fmt.Sprintf("cut at %d", cut), func(t *testing.T) {
			dir := t.TempDir()
			copyDir(t, pristine, dir)
			if err := os.Truncate(filepath.Join(dir, segName), cut); err != nil {
				t.Fatal(err)
			}
			log, lb := newLog()
			s, err := Open(Options{Dir: dir, Log: log})
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer s.Close()
			got := peek(t, s)
			if fmt.Sprint(ids(t, got)) != fmt.Sprint(seq(0, 5)) {
				t.Fatalf("got %v, want the 5 complete entries", ids(t, got))
			}
			for i, e := range got {
				if !equalEntry(e, entry(i, 150)) {
					t.Fatalf("entry %d damaged: %+v", i, e)
				}
			}
			q := quarantineFiles(t, dir)
			warns := lb.lines("WARN", "quarantine")
			if cut == lastStart {
				// The file ends exactly on an entry boundary: nothing is broken.
				if len(q) != 0 || len(warns) != 0 || s.Stats().Quarantined != 0 {
					t.Fatalf("clean cut quarantined %v; log:\n%s", q, lb)
				}
			} else {
				if len(q) != 1 {
					t.Fatalf("quarantine holds %d files, want 1", len(q))
				}
				info, _ := q[0].Info()
				if info.Size() != cut-lastStart || !strings.HasPrefix(q[0].Name(), segName+".") ||
					!strings.Contains(q[0].Name(), ".corrupt-") {
					t.Fatalf("quarantine file %s of %d bytes, want %d bytes", q[0].Name(), info.Size(), cut-lastStart)
				}
				if len(warns) != 1 || !strings.Contains(warns[0], "offset="+strconv.FormatInt(lastStart, 10)) ||
					!strings.Contains(warns[0], "bytes="+strconv.FormatInt(cut-lastStart, 10)) ||
					!strings.Contains(warns[0], segName) {
					t.Fatalf("want one WARN line naming file, offset and bytes; log:\n%s", lb)
				}
				if s.Stats().Quarantined != 1 {
					t.Fatalf("Stats: %+v", s.Stats())
				}
				if st, _ := os.Stat(filepath.Join(dir, segName)); st.Size() != lastStart {
					t.Fatalf("segment is %d bytes after recovery, want %d", st.Size(), lastStart)
				}
			}
			// New appends go to a fresh segment and read back after the old entries.
			mustAppend(t, s, entries(100, 102, 150))
			if n := len(segFiles(t, dir)); n != 2 {
				t.Fatalf("%d segment files, want the recovered one and a new one", n)
			}
			if got := ids(t, drain(t, s, 4)); fmt.Sprint(got) != fmt.Sprint(append(seq(0, 5), 100, 101)) {
				t.Fatalf("after append: %v", got)
			}
		})
	}
}

func TestCorruptByte(t *testing.T) {
	const size = 200
	// 10 entries of size bytes per segment; three segments.
	frame := frameLen(&[]Entry{entry(0, size)}[0])
	for _, tc := range []struct {
		name   string
		entry  int // in the first segment
		offset int // within the entry's frame
	}{
		{"length field", 4, 1},
		{"length high byte", 4, 3},
		{"checksum", 4, 6},
		{"version byte", 4, frameHeaderLen},
		{"time", 5, frameHeaderLen + 3},
		{"payload middle", 5, frame / 2},
		{"last byte of segment", 9, frame - 1},
		{"first entry", 0, frame / 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			opts := Options{Dir: dir, SegmentBytes: int64(10 * frame)}
			s := open(t, opts)
			mustAppend(t, s, entries(0, 30, size))
			if s.Stats().Segments != 3 {
				t.Fatalf("want 3 segments: %+v", s.Stats())
			}
			s.Close()
			first := segFiles(t, dir)[0]
			b, err := os.ReadFile(first)
			if err != nil {
				t.Fatal(err)
			}
			if len(b) != 10*frame {
				t.Fatalf("first segment is %d bytes, want %d", len(b), 10*frame)
			}
			b[tc.entry*frame+tc.offset] ^= 0x5a
			if err := os.WriteFile(first, b, 0o600); err != nil {
				t.Fatal(err)
			}

			log, lb := newLog()
			opts.Log = log
			s = open(t, opts)
			defer s.Close()
			// Only the damaged entry is lost: the spool resynchronises on the next valid frame (or, at the end of
			// the segment, cuts the tail).
			want := append(seq(0, tc.entry), seq(tc.entry+1, 30)...)
			if got := ids(t, peek(t, s)); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("got %v, want %v", got, want)
			}
			q := quarantineFiles(t, dir)
			if len(q) != 1 {
				t.Fatalf("quarantine holds %v", q)
			}
			if info, _ := q[0].Info(); info.Size() != int64(frame) {
				t.Fatalf("quarantined %d bytes, want the damaged frame's %d", info.Size(), frame)
			}
			if n := len(lb.lines("WARN", "quarantine")); n != 1 {
				t.Fatalf("%d WARN lines, want 1:\n%s", n, lb)
			}
			if st := s.Stats(); st.Entries != len(want) || st.Bytes != diskBytes(t, dir) || st.CorruptEntries != 1 {
				t.Fatalf("Stats %+v (want 1 corrupt entry); disk %d", st, diskBytes(t, dir))
			}
			mustAppend(t, s, entries(30, 31, size))
			if got := ids(t, drain(t, s, 6)); fmt.Sprint(got) != fmt.Sprint(append(want, 30)) {
				t.Fatalf("drain: %v", got)
			}
		})
	}
}

// Damage found by Read after Open (a failing disk) is quarantined the same way and the reader moves on.
func TestCorruptionFoundByRead(t *testing.T) {
	dir := t.TempDir()
	frame := frameLen(&[]Entry{entry(0, 200)}[0])
	log, lb := newLog()
	s := open(t, Options{Dir: dir, SegmentBytes: int64(10 * frame), Log: log})
	defer s.Close()
	mustAppend(t, s, entries(0, 25, 200))
	first := segFiles(t, dir)[0]
	f, err := os.OpenFile(first, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte{0xff}, int64(6*frame+20)); err != nil {
		t.Fatal(err)
	}
	f.Close()
	want := append(seq(0, 6), seq(7, 25)...)
	if got := ids(t, drain(t, s, 100)); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	if len(quarantineFiles(t, dir)) != 1 || len(lb.lines("WARN", "quarantine")) != 1 || s.Stats().Quarantined != 1 {
		t.Fatalf("quarantine: %v\n%s", quarantineFiles(t, dir), lb)
	}
	// Found after Open, the loss is known exactly: one entry and its GPU-seconds.
	if st := s.Stats(); st.Entries != 0 || st.CorruptEntries != 1 || st.CorruptSeconds != entry(6, 200).Seconds {
		t.Fatalf("Stats after drain: %+v, want 1 corrupt entry of %g s", st, entry(6, 200).Seconds)
	}
}

func TestMaxBytesDropsOldest(t *testing.T) {
	const size = 200
	frame := int64(frameLen(&[]Entry{entry(0, size)}[0]))
	for _, tc := range []struct {
		name     string
		segBytes int64
		maxBytes int64
		n, batch int
		acked    int // entries acknowledged before the overflow
	}{
		{"small segments", 5 * frame, 40 * frame, 200, 8, 0},
		{"partly acked head segment", 5 * frame, 40 * frame, 200, 8, 3},
		{"one entry per segment", frame, 10 * frame, 50, 1, 0},
		{"batch larger than MaxBytes", 2 * frame, 8 * frame, 30, 30, 0},
		{"segment size clamped to MaxBytes/8", 0, 64 * frame, 300, 48, 10},
		{"only one entry fits", frame, frame, 5, 2, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			log, lb := newLog()
			s := open(t, Options{Dir: dir, SegmentBytes: tc.segBytes, MaxBytes: tc.maxBytes, Log: log})
			defer s.Close()
			all := entries(0, tc.n, size)
			next := 0
			if tc.acked > 0 {
				mustAppend(t, s, all[:tc.acked+1])
				next = tc.acked + 1
				_, c, _ := s.Read(tc.acked)
				if err := s.Ack(c); err != nil {
					t.Fatal(err)
				}
			}
			for next < tc.n {
				mustAppend(t, s, all[next:min(next+tc.batch, tc.n)])
				next = min(next+tc.batch, tc.n)
				if st, d := s.Stats(), diskBytes(t, dir); st.Bytes > tc.maxBytes || d > tc.maxBytes || st.Bytes != d {
					t.Fatalf("disk use %d (Stats %d) exceeds MaxBytes %d", d, st.Bytes, tc.maxBytes)
				}
			}
			got := peek(t, s)
			if len(got) == 0 || id(t, got[len(got)-1]) != tc.n-1 {
				t.Fatalf("the newest entry was not kept: %v", ids(t, got))
			}
			firstKept := id(t, got[0])
			if fmt.Sprint(ids(t, got)) != fmt.Sprint(seq(firstKept, tc.n)) {
				t.Fatalf("kept entries are not the newest contiguous run: %v", ids(t, got))
			}
			var wantSecs float64
			for _, e := range all[tc.acked:firstKept] {
				wantSecs += e.Seconds
			}
			st := s.Stats()
			if st.DroppedEntries != int64(firstKept-tc.acked) || math.Abs(st.DroppedSeconds-wantSecs) > 1e-9 {
				t.Fatalf("Stats %+v: want %d dropped entries, %v seconds", st, firstKept-tc.acked, wantSecs)
			}
			if st.Entries != len(got) {
				t.Fatalf("Stats.Entries %d, Read found %d", st.Entries, len(got))
			}
			errs := lb.lines("ERROR", "dropped")
			if len(errs) == 0 {
				t.Fatalf("no ERROR log for dropped entries:\n%s", lb)
			}
			// The first drop names the oldest dropped entry's time; the counts add up.
			oldest := all[tc.acked].Time.Format("2006-01-02T15:04:05.000Z07:00") // slog text: milliseconds
			if !strings.Contains(errs[0], "oldest_dropped="+oldest) {
				t.Fatalf("first drop log does not name %s: %s", oldest, errs[0])
			}
			last := errs[len(errs)-1]
			if !strings.Contains(last, fmt.Sprintf("dropped_entries_since_open=%d", st.DroppedEntries)) {
				t.Fatalf("last drop log %s, want total %d", last, st.DroppedEntries)
			}
		})
	}
}

func TestEntryLargerThanMaxBytes(t *testing.T) {
	dir := t.TempDir()
	s := open(t, Options{Dir: dir, MaxBytes: 1000})
	defer s.Close()
	mustAppend(t, s, entries(0, 2, 100))
	err := s.Append([]Entry{entry(2, 100), entry(3, 2000)})
	if err == nil || !strings.Contains(err.Error(), "MaxBytes") {
		t.Fatalf("Append of an oversized entry: %v", err)
	}
	if got := ids(t, peek(t, s)); fmt.Sprint(got) != "[0 1]" {
		t.Fatalf("after a refused Append: %v", got)
	}
	if st := s.Stats(); st.DroppedEntries != 0 {
		t.Fatalf("Stats: %+v", st)
	}
}

func TestConcurrentAppendReadAck(t *testing.T) {
	dir := t.TempDir()
	s := open(t, Options{Dir: dir, SegmentBytes: 8 << 10})
	defer s.Close()
	const batches, batch = 300, 8
	var wg sync.WaitGroup
	appendErr := make(chan error, 1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for b := 0; b < batches; b++ {
			if err := s.Append(entries(b*batch, (b+1)*batch, 600)); err != nil {
				appendErr <- err
				return
			}
		}
	}()
	stop := make(chan struct{})
	wg.Add(1)
	go func() { // a metrics scraper
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
				_ = s.Stats()
				time.Sleep(100 * time.Microsecond)
			}
		}
	}()
	next := 0
	deadline := time.Now().Add(30 * time.Second)
	for next < batches*batch {
		select {
		case err := <-appendErr:
			t.Fatalf("Append: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("stuck at entry %d", next)
		}
		es, c, err := s.Read(1 + next%50)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range es {
			if got := id(t, e); got != next {
				t.Fatalf("got entry %d, want %d", got, next)
			}
			next++
		}
		if len(es) == 0 {
			time.Sleep(50 * time.Microsecond)
			continue
		}
		if err := s.Ack(c); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	if es, _, _ := s.Read(10); len(es) != 0 {
		t.Fatalf("extra entries: %v", ids(t, es))
	}
	if st := s.Stats(); st.Entries != 0 || st.DroppedEntries != 0 {
		t.Fatalf("Stats: %+v", st)
	}
}

func TestAckFileDamaged(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(path string) error
		level  string
	}{
		{"missing", os.Remove, "INFO"},
		{"garbage", func(p string) error { return os.WriteFile(p, []byte("not an ack file at all......"), 0o600) }, "WARN"},
		{"empty", func(p string) error { return os.WriteFile(p, nil, 0o600) }, "WARN"},
		{"flipped bit", func(p string) error {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			b[17] ^= 1
			return os.WriteFile(p, b, 0o600)
		}, "WARN"},
		{"truncated", func(p string) error { return os.Truncate(p, 20) }, "WARN"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			opts := Options{Dir: dir, SegmentBytes: 2000}
			s := open(t, opts)
			mustAppend(t, s, entries(0, 30, 200))
			_, c, _ := s.Read(5) // within the first segment: no segment is deleted
			if err := s.Ack(c); err != nil {
				t.Fatal(err)
			}
			s.Close()
			if err := tc.damage(filepath.Join(dir, ackFileName)); err != nil {
				t.Fatal(err)
			}
			log, lb := newLog()
			opts.Log = log
			s = open(t, opts)
			defer s.Close()
			if got := ids(t, peek(t, s)); fmt.Sprint(got) != fmt.Sprint(seq(0, 30)) {
				t.Fatalf("want a replay from the start, got %v", got)
			}
			if n := len(lb.lines(tc.level, "replaying every spooled entry")); n != 1 {
				t.Fatalf("want one %s line about the replay:\n%s", tc.level, lb)
			}
			// The next Ack writes a good ack file again.
			_, c, _ = s.Read(12)
			if err := s.Ack(c); err != nil {
				t.Fatal(err)
			}
			s.Close()
			s = open(t, opts)
			defer s.Close()
			if got := ids(t, peek(t, s)); fmt.Sprint(got) != fmt.Sprint(seq(12, 30)) {
				t.Fatalf("after a new ack: %v", got)
			}
		})
	}
}

func TestOldestAge(t *testing.T) {
	now := base.Add(time.Hour)
	s := open(t, Options{Dir: t.TempDir(), SegmentBytes: 2000, Now: func() time.Time { return now }})
	defer s.Close()
	if st := s.Stats(); st.OldestAge != 0 || st.Entries != 0 {
		t.Fatalf("empty: %+v", st)
	}
	es := entries(0, 30, 200) // entry i ends at base + i s + 123456789 ns
	mustAppend(t, s, es)
	age := func(i int) time.Duration { return now.Sub(es[i].Time) }
	if got := s.Stats().OldestAge; got != age(0) {
		t.Fatalf("OldestAge %v, want %v", got, age(0))
	}
	for _, n := range []int{3, 9, 1} { // into the first segment, past it, one more
		_, c, _ := s.Read(n)
		if err := s.Ack(c); err != nil {
			t.Fatal(err)
		}
	}
	if got := s.Stats().OldestAge; got != age(13) {
		t.Fatalf("OldestAge %v, want %v", got, age(13))
	}
	// An older record appended later (a slow GPU) counts too.
	mustAppend(t, s, []Entry{{Value: []byte("rec-00000999;"), Time: base.Add(-time.Minute)}})
	if got := s.Stats().OldestAge; got != time.Hour+time.Minute {
		t.Fatalf("OldestAge %v, want %v", got, time.Hour+time.Minute)
	}
}

func TestOpenTwiceRefused(t *testing.T) {
	dir := t.TempDir()
	s := open(t, Options{Dir: dir})
	if _, err := Open(Options{Dir: dir}); err == nil {
		t.Fatal("second Open of the same directory succeeded")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, Options{Dir: dir})
	s.Close()
}

func TestClosed(t *testing.T) {
	s := open(t, Options{Dir: t.TempDir()})
	mustAppend(t, s, entries(0, 3, 100))
	_, c, _ := s.Read(3)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := s.Append(entries(3, 4, 100)); err != ErrClosed {
		t.Fatalf("Append after Close: %v", err)
	}
	if _, _, err := s.Read(1); err != ErrClosed {
		t.Fatalf("Read after Close: %v", err)
	}
	if err := s.Ack(c); err != ErrClosed {
		t.Fatalf("Ack after Close: %v", err)
	}
}

func TestOpenCreatesDirAndCleansUp(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "spool")
	s := open(t, Options{Dir: dir})
	if st, err := os.Stat(dir); err != nil || st.Mode().Perm() != 0o700 {
		t.Fatalf("dir: %v %v", st, err)
	}
	s.Close()
	// A stale ack.tmp is removed; an empty segment (crash right after creating it) is kept, so that the sequence
	// shows no gap (it goes once acknowledged past).
	if err := os.WriteFile(filepath.Join(dir, segmentName(7)), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ackTmpName), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	s = open(t, Options{Dir: dir})
	defer s.Close()
	if f := segFiles(t, dir); len(f) != 1 || s.Stats().Segments != 0 {
		t.Fatalf("segment files %v, Stats %+v: want the empty one on disk, none in the spool", f, s.Stats())
	}
	if _, err := os.Stat(filepath.Join(dir, ackTmpName)); !os.IsNotExist(err) {
		t.Fatalf("ack.tmp: %v", err)
	}
	// Sequence numbers continue after the removed segment.
	mustAppend(t, s, entries(0, 1, 100))
	if f := segFiles(t, dir); len(f) != 2 || filepath.Base(f[1]) != segmentName(8) {
		t.Fatalf("segments %v, want %s after the empty one", f, segmentName(8))
	}
}

// One append is one reporting interval of one node with 8 GPUs: 8 records of about 600 bytes, fsynced.
func BenchmarkAppend(b *testing.B) {
	s := open(b, Options{Dir: b.TempDir()})
	defer s.Close()
	batch := entries(0, 8, 600)
	b.SetBytes(int64(8 * frameLen(&batch[0])))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := s.Append(batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(batch))/b.Elapsed().Seconds(), "entries/s")
}

// One op drains an hour of backlog of a 48-GPU node (2880 records of about 600 bytes): Read 500, Ack, repeat. Filling
// the spool is not timed.
func BenchmarkReadAck(b *testing.B) {
	s := open(b, Options{Dir: b.TempDir()})
	defer s.Close()
	const perHour = 48 * 60
	interval := entries(0, 48, 600)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		for range perHour / 48 {
			if err := s.Append(interval); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		n := 0
		for {
			es, c, err := s.Read(500)
			if err != nil {
				b.Fatal(err)
			}
			if len(es) == 0 {
				break
			}
			n += len(es)
			if err := s.Ack(c); err != nil {
				b.Fatal(err)
			}
		}
		if n != perHour {
			b.Fatalf("drained %d entries, want %d", n, perHour)
		}
	}
	b.ReportMetric(float64(b.N*perHour)/b.Elapsed().Seconds(), "entries/s")
}
