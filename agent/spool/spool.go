// Package spool is the node agent's on-disk queue of closed usage records.
//
// A record is appended (and fsynced) before it is sent to Kafka and removed only after Kafka acknowledged it, so a
// Kafka outage or an agent restart loses nothing: the agent keeps measuring and appending, and replays the backlog in
// order when Kafka is back. Disk use is bounded by Options.MaxBytes; when it is reached the OLDEST entries are
// dropped (keeping the newest), logged at ERROR level and counted in Stats.
//
// Delivery is at-least-once. Entries acknowledged just before a crash, or appended by an Append that returned an
// error, can be read again after a restart or a retry. That is safe: a record's identity is (node, device uuid,
// attribution, window_start) and every consumer downstream is idempotent on it (docs/design.md, "Identity and
// exactly-once effect").
//
// The on-disk format is described in format.go.
package spool

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"time"
)

// Entry is one spooled record: opaque bytes plus what the spool needs to report losses.
type Entry struct {
	Key, Value []byte
	// Seconds is the GPU-seconds the record carries (provisioned_seconds); summed into Stats.DroppedSeconds when the
	// entry is dropped.
	Seconds float64
	// Time is when the record's window ended; used for Stats.OldestAge and drop logs. Stored to the nanosecond, read
	// back in UTC.
	Time time.Time
}

// Options configures a Spool.
type Options struct {
	// Dir holds the spool; created with mode 0700 if missing. Required.
	Dir string
	// MaxBytes bounds the bytes of all segment files. When an Append would exceed it, the oldest whole segments are
	// dropped (deleted) until the new entries fit. Default 1 GiB.
	MaxBytes int64
	// SegmentBytes is the size at which a segment file is closed and a new one started. Default 4 MiB. It is lowered
	// to MaxBytes/8 when that is smaller, so that one drop never discards more than about an eighth of the spool. An
	// entry larger than a segment gets a segment of its own.
	SegmentBytes int64
	// Log receives recovery, quarantine and drop messages. Default slog.Default().
	Log *slog.Logger
	// Now is the clock for Stats.OldestAge: the agent's clock, virtual or not, since entries' Time comes from it.
	// Default time.Now.
	Now func() time.Time
}

const (
	defaultMaxBytes     = 1 << 30
	defaultSegmentBytes = 4 << 20
)

// Stats describe the spool at one moment.
type Stats struct {
	// Bytes is the size of all segment files: what MaxBytes bounds. Acknowledged entries count until their segment
	// is deleted (when fully acknowledged and no longer appended to).
	Bytes int64
	// Entries is the number of entries appended and not yet acknowledged or dropped.
	Entries int
	// Segments is the number of segment files.
	Segments int
	// OldestAge is Now minus the Time of the oldest pending entry (the first one Read would return, or the earliest
	// Time of a later segment if that is older); 0 when nothing is pending or the time lies in the future.
	OldestAge time.Duration
	// DroppedEntries and DroppedSeconds count entries dropped because the spool was full, since Open.
	DroppedEntries int64
	DroppedSeconds float64
	// Quarantined is the number of files in the quarantine folder: unreadable data moved aside, found at this Open or
	// earlier ones and not yet cleaned up by an operator.
	Quarantined int
}

// Cursor marks a position returned by Read; pass it to Ack. The zero Cursor acknowledges nothing.
type Cursor struct {
	seq uint64 // segment of the last entry read
	off int64  // offset just past that entry
	idx int    // entries in the segment up to off
}

// IsZero reports whether c marks no entry (Read found nothing).
func (c Cursor) IsZero() bool { return c.seq == 0 }

// ErrClosed is returned by every method called after Close.
var ErrClosed = errors.New("spool: closed")

// segment is the in-memory summary of one segment file.
type segment struct {
	seq              uint64
	size             int64 // bytes of complete entries
	count            int   // entries
	seconds          float64
	minTime, maxTime time.Time
}

func (g *segment) add(e *Entry, n int64) {
	g.size += n
	if g.count == 0 || e.Time.Before(g.minTime) {
		g.minTime = e.Time
	}
	if g.count == 0 || e.Time.After(g.maxTime) {
		g.maxTime = e.Time
	}
	g.count++
	g.seconds += e.Seconds
}

// Spool is a durable FIFO of entries in a directory. Its methods are safe for concurrent use (one mutex; the agent
// has one appender goroutine and one reader/acker goroutine). Read and Ack may wait for an Append's fsync.
type Spool struct {
	dir, qdir string
	log       *slog.Logger
	now       func() time.Time
	maxBytes  int64
	segBytes  int64
	lockFile  *os.File

	mu     sync.Mutex
	closed bool
	segs   []*segment // oldest first; segs[0] holds the acknowledged position
	active *segment   // last of segs while appends go to it; nil until the first Append after Open or a failure
	wf     *os.File   // active's file
	// Acknowledged position within segs[0]: byte offset and entry count.
	headOff int64
	headIdx int
	nextSeq uint64
	bytes   int64 // sum of segs' sizes
	entries int   // sum of segs' counts, acknowledged entries of segs[0] included

	// Time of the entry at headTimeSeq:headTimeOff (cache for Stats.OldestAge).
	headTime    time.Time
	headTimeSeq uint64
	headTimeOff int64

	rf    *os.File // read handle of segment rfSeq
	rfSeq uint64
	fr    *frameReader

	droppedEntries int64
	droppedSeconds float64
	quarantined    int

	encBuf []byte
	ends   []int
}

// Open opens the spool in opts.Dir, creating it if needed, and recovers what an earlier process left: every segment
// is checked entry by entry; an unreadable tail (a write cut by power loss, a flipped bit) is moved to quarantine/
// with one WARN line and the readable entries before it are kept. Appends always go to a new segment. A missing or
// unreadable ack file means every spooled entry is replayed.
func Open(opts Options) (*Spool, error) {
	if opts.Dir == "" {
		return nil, errors.New("spool: Options.Dir is empty")
	}
	if opts.MaxBytes < 0 || opts.SegmentBytes < 0 {
		return nil, fmt.Errorf("spool: negative MaxBytes %d or SegmentBytes %d", opts.MaxBytes, opts.SegmentBytes)
	}
	s := &Spool{
		dir:      opts.Dir,
		qdir:     filepath.Join(opts.Dir, quarantineDir),
		log:      opts.Log,
		now:      opts.Now,
		maxBytes: opts.MaxBytes,
		segBytes: opts.SegmentBytes,
		fr:       newFrameReader(),
		nextSeq:  1,
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.maxBytes == 0 {
		s.maxBytes = defaultMaxBytes
	}
	if s.segBytes == 0 {
		s.segBytes = defaultSegmentBytes
	}
	s.segBytes = max(1, min(s.segBytes, s.maxBytes/8))

	if _, err := os.Stat(s.dir); errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(s.dir, 0o700); err != nil {
			return nil, fmt.Errorf("spool: %w", err)
		}
		if err := syncDir(filepath.Dir(filepath.Clean(s.dir))); err != nil {
			return nil, fmt.Errorf("spool: %w", err)
		}
	}
	if err := os.MkdirAll(s.qdir, 0o700); err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	lf, err := lockDir(filepath.Join(s.dir, lockFileName))
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	s.lockFile = lf
	if err := s.recover(); err != nil {
		s.closeFiles()
		lf.Close()
		return nil, fmt.Errorf("spool: recover %s: %w", s.dir, err)
	}
	return s, nil
}

// recover rebuilds the in-memory state from the directory.
func (s *Spool) recover() error {
	if err := os.Remove(filepath.Join(s.dir, ackTmpName)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	des, err := os.ReadDir(s.dir)
	if err != nil {
		return err
	}
	var seqs []uint64
	for _, de := range des {
		if seq, ok := parseSegmentName(de.Name()); ok && de.Type().IsRegular() {
			seqs = append(seqs, seq)
			s.nextSeq = max(s.nextSeq, seq+1)
		}
	}
	slices.Sort(seqs)
	qs, err := os.ReadDir(s.qdir)
	if err != nil {
		return err
	}
	s.quarantined = len(qs)

	ackPath := filepath.Join(s.dir, ackFileName)
	ackSeq, ackOff, haveAck := uint64(0), int64(0), false
	switch b, err := os.ReadFile(ackPath); {
	case errors.Is(err, fs.ErrNotExist):
		if len(seqs) > 0 {
			s.log.Info("spool: no ack file; replaying every spooled entry from the oldest segment",
				"dir", s.dir, "segments", len(seqs))
		}
	case err != nil:
		return err
	default:
		ackSeq, ackOff, err = decodeAck(b)
		if err != nil {
			s.log.Warn("spool: ack file is corrupt; replaying every spooled entry from the oldest segment",
				"file", ackPath, "error", err, "segments", len(seqs))
			break
		}
		haveAck = true
		// Sequence numbers are never reused: a new segment must sort after the acknowledged one.
		s.nextSeq = max(s.nextSeq, ackSeq+1)
	}

	removed := 0
	headIdx := -1 // entries before ackOff in segment ackSeq; -1 while ackOff is not known to be an entry boundary
	for _, seq := range seqs {
		path := filepath.Join(s.dir, segmentName(seq))
		if haveAck && seq < ackSeq {
			// Fully acknowledged; its deletion did not happen or was not durable before a crash.
			if err := os.Remove(path); err != nil {
				return err
			}
			removed++
			continue
		}
		mark := int64(-1)
		if haveAck && seq == ackSeq {
			mark = ackOff
		}
		g, markIdx, err := s.scanSegment(seq, mark)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		if g.size == 0 {
			// Empty (created just before a crash) or wholly quarantined. If the quarantine failed the unreadable
			// bytes stay for the next Open to retry; they are not part of the spool meanwhile.
			if st, err := os.Stat(path); err == nil && st.Size() == 0 {
				if err := os.Remove(path); err != nil {
					return err
				}
				removed++
			}
			continue
		}
		if mark >= 0 {
			if ackOff > g.size {
				// The tail holding the acknowledged position was quarantined: all readable entries were acknowledged.
				ackOff, markIdx = g.size, g.count
			}
			headIdx = markIdx
		}
		s.segs = append(s.segs, g)
		s.bytes += g.size
		s.entries += g.count
	}

	if haveAck && len(s.segs) > 0 && s.segs[0].seq == ackSeq {
		g := s.segs[0]
		switch {
		case headIdx < 0:
			s.log.Warn("spool: ack position is not an entry boundary; replaying its segment from the start",
				"file", ackPath, "segment", segmentName(ackSeq), "offset", ackOff)
		case ackOff == g.size:
			if err := os.Remove(filepath.Join(s.dir, segmentName(g.seq))); err != nil {
				return err
			}
			removed++
			s.bytes -= g.size
			s.entries -= g.count
			s.segs = s.segs[1:]
		default:
			s.headOff, s.headIdx = ackOff, headIdx
		}
	}
	if removed > 0 {
		if err := syncDir(s.dir); err != nil {
			return err
		}
	}
	s.log.Info("spool: opened", "dir", s.dir, "segments", len(s.segs), "pending_entries", s.entries-s.headIdx,
		"bytes", s.bytes, "removed_segments", removed, "quarantined_files", s.quarantined)
	return nil
}

// scanSegment checks every entry of a segment file and quarantines an unreadable tail. With mark >= 0 it also
// returns the number of entries before offset mark, or -1 if mark is not an entry boundary.
func (s *Spool) scanSegment(seq uint64, mark int64) (*segment, int, error) {
	path := filepath.Join(s.dir, segmentName(seq))
	f, err := os.Open(path)
	if err != nil {
		return nil, -1, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, -1, err
	}
	g := &segment{seq: seq}
	markIdx := -1
	buf := make([]byte, 0, 4096)
	s.fr.reset(f, 0, st.Size())
	for {
		if s.fr.off == mark {
			markIdx = g.count
		}
		e, n, err := s.fr.next(buf)
		if err == io.EOF {
			break
		}
		if isCorrupt(err) {
			s.quarantineTail(path, s.fr.off, err.Error())
			break
		}
		if err != nil {
			return nil, -1, err
		}
		if n > int64(cap(buf)) && n <= 1<<20 {
			buf = make([]byte, 0, n)
		}
		g.add(&e, n)
	}
	return g, markIdx, nil
}

// quarantineTail moves the bytes of the segment file at path from off to its end into quarantine/ and truncates the
// segment to off, logging one WARN line. If the move fails the tail stays in place (the caller reads only up to off)
// and the next Open tries again.
func (s *Spool) quarantineTail(path string, off int64, reason string) {
	qpath, n, err := s.moveTail(path, off)
	if err != nil {
		s.log.Error("spool: could not quarantine the unreadable tail of a segment; reading only the entries before it",
			"file", path, "offset", off, "reason", reason, "error", err)
		return
	}
	s.quarantined++
	s.log.Warn("spool: quarantined the unreadable tail of a segment; entries before it are kept",
		"file", path, "offset", off, "bytes", n, "quarantine", qpath, "reason", reason)
}

func (s *Spool) moveTail(path string, off int64) (string, int64, error) {
	src, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return "", 0, err
	}
	defer src.Close()
	st, err := src.Stat()
	if err != nil {
		return "", 0, err
	}
	n := st.Size() - off
	base := fmt.Sprintf("%s.%d.corrupt-%d", filepath.Base(path), off, time.Now().Unix())
	var dst *os.File
	var qpath string
	for i := 0; ; i++ {
		qpath = filepath.Join(s.qdir, base)
		if i > 0 {
			qpath = fmt.Sprintf("%s.%d", qpath, i)
		}
		dst, err = os.OpenFile(qpath, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err == nil || !errors.Is(err, fs.ErrExist) || i >= 100 {
			break
		}
	}
	if err != nil {
		return "", 0, err
	}
	if _, err := io.Copy(dst, io.NewSectionReader(src, off, n)); err != nil {
		dst.Close()
		os.Remove(qpath)
		return "", 0, err
	}
	if err := dst.Sync(); err != nil {
		dst.Close()
		os.Remove(qpath)
		return "", 0, err
	}
	if err := dst.Close(); err != nil {
		return "", 0, err
	}
	if err := syncDir(s.qdir); err != nil {
		return "", 0, err
	}
	// The tail is safe in quarantine; only now cut it from the segment.
	if err := src.Truncate(off); err != nil {
		return qpath, n, err
	}
	return qpath, n, src.Sync()
}

// Append writes entries in order and returns once they are on disk (file fsynced; directory fsynced when a segment
// file was created). An entry whose frame is larger than MaxBytes fails the whole call before anything is written.
// If the spool is full, the oldest segments are dropped first (logged at ERROR, counted in Stats), including, for a
// batch larger than MaxBytes, segments holding this batch's own first entries. On a write or fsync error some entries
// may already be readable; appending them again on retry is safe (records are idempotent downstream).
func (s *Spool) Append(entries []Entry) error {
	if len(entries) == 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	buf, ends := s.encBuf[:0], s.ends[:0]
	for i := range entries {
		if n := frameLen(&entries[i]); int64(n) > s.maxBytes || n-frameHeaderLen > maxPayloadLen {
			return fmt.Errorf("spool: entry %d of %d takes %d bytes, more than MaxBytes %d", i, len(entries), n, s.maxBytes)
		}
		buf = appendFrame(buf, &entries[i])
		ends = append(ends, len(buf))
	}
	if cap(buf) <= 4<<20 {
		s.encBuf, s.ends = buf, ends
	}
	var d dropReport
	defer s.logDrops(&d)

	start := func(i int) int {
		if i == 0 {
			return 0
		}
		return ends[i-1]
	}
	pend := 0 // first entry not yet written
	flush := func(to int) error {
		if pend == to {
			return nil
		}
		err := s.writeLocked(entries[pend:to], buf[start(pend):start(to)], ends[pend:to], start(pend))
		pend = to
		return err
	}
	for i := range entries {
		n := int64(ends[i] - start(i))
		pendBytes := int64(start(i) - start(pend))
		if s.active != nil && s.active.size+pendBytes > 0 && s.active.size+pendBytes+n > s.segBytes {
			if err := flush(i); err != nil {
				return err
			}
			if err := s.sealLocked(); err != nil {
				return err
			}
			pendBytes = 0
		}
		for s.bytes+pendBytes+n > s.maxBytes && len(s.segs) > 0 {
			if err := flush(i); err != nil {
				return err
			}
			pendBytes = 0
			s.dropOldestLocked(&d)
		}
		if s.active == nil {
			if err := s.newSegmentLocked(); err != nil {
				return err
			}
		}
	}
	if err := flush(len(entries)); err != nil {
		return err
	}
	if err := s.wf.Sync(); err != nil {
		// After a failed fsync the kernel may have dropped the dirty pages: never append to this file again.
		s.abandonActiveLocked()
		return fmt.Errorf("spool: fsync: %w", err)
	}
	return nil
}

// writeLocked writes frames (the encoding of entries, ending at ends offset by base) to the active segment.
func (s *Spool) writeLocked(entries []Entry, frames []byte, ends []int, base int) error {
	g := s.active
	if _, err := s.wf.Write(frames); err != nil {
		// Cut a partial write so the file ends on an entry boundary, and start a new segment next time.
		if terr := s.wf.Truncate(g.size); terr != nil {
			s.log.Error("spool: could not cut a failed write; the next Open will quarantine it",
				"file", s.wf.Name(), "offset", g.size, "error", terr)
		}
		s.abandonActiveLocked()
		return fmt.Errorf("spool: write: %w", err)
	}
	prev := base
	for i := range entries {
		g.add(&entries[i], int64(ends[i]-prev))
		prev = ends[i]
	}
	s.bytes += int64(len(frames))
	s.entries += len(entries)
	return nil
}

// newSegmentLocked creates the next segment file and makes it the active one.
func (s *Spool) newSegmentLocked() error {
	seq := s.nextSeq
	s.nextSeq++
	path := filepath.Join(s.dir, segmentName(seq))
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("spool: create segment: %w", err)
	}
	if err := syncDir(s.dir); err != nil {
		f.Close()
		os.Remove(path)
		return fmt.Errorf("spool: create segment: %w", err)
	}
	g := &segment{seq: seq}
	if len(s.segs) == 0 {
		s.headOff, s.headIdx = 0, 0
	}
	s.segs = append(s.segs, g)
	s.active, s.wf = g, f
	return nil
}

// sealLocked fsyncs and closes the active segment; the next append starts a new one.
func (s *Spool) sealLocked() error {
	err := s.wf.Sync()
	s.abandonActiveLocked()
	if err != nil {
		return fmt.Errorf("spool: fsync: %w", err)
	}
	return nil
}

func (s *Spool) abandonActiveLocked() {
	if s.wf != nil {
		s.wf.Close()
	}
	s.active, s.wf = nil, nil
}

// dropReport sums what one Append dropped, for one log line.
type dropReport struct {
	segments         int
	bytes            int64
	entries          int
	seconds          float64
	oldest, newest   time.Time
	unknownTimeRange bool
}

func (d *dropReport) addTimes(lo, hi time.Time) {
	if d.entries == 0 || lo.Before(d.oldest) {
		d.oldest = lo
	}
	if d.entries == 0 || hi.After(d.newest) {
		d.newest = hi
	}
}

// dropOldestLocked deletes the oldest segment, counting its unacknowledged entries as dropped.
func (s *Spool) dropOldestLocked(d *dropReport) {
	g := s.segs[0]
	n, secs, lo, hi := g.count, g.seconds, g.minTime, g.maxTime
	if s.headIdx > 0 {
		// Partly acknowledged: count exactly what was not delivered.
		var err error
		n, secs, lo, hi, err = s.sumFromLocked(g, s.headOff)
		if err != nil {
			n, secs, lo, hi = g.count-s.headIdx, 0, g.minTime, g.maxTime
			d.unknownTimeRange = true
			s.log.Error("spool: could not read the segment being dropped; its GPU-seconds are not counted",
				"segment", segmentName(g.seq), "error", err)
		}
	}
	if n > 0 {
		d.addTimes(lo, hi)
		d.entries += n
		d.seconds += secs
	}
	d.segments++
	d.bytes += g.size
	s.droppedEntries += int64(n)
	s.droppedSeconds += secs
	s.removeFrontLocked(1)
}

// sumFromLocked reads a segment from off to its end and sums its entries.
func (s *Spool) sumFromLocked(g *segment, off int64) (n int, secs float64, lo, hi time.Time, err error) {
	f, err := s.readFileLocked(g)
	if err != nil {
		return 0, 0, lo, hi, err
	}
	s.fr.reset(f, off, g.size)
	buf := make([]byte, 0, 4096)
	for {
		e, _, err := s.fr.next(buf)
		if err == io.EOF {
			return n, secs, lo, hi, nil
		}
		if err != nil {
			return n, secs, lo, hi, err
		}
		if n == 0 || e.Time.Before(lo) {
			lo = e.Time
		}
		if n == 0 || e.Time.After(hi) {
			hi = e.Time
		}
		n++
		secs += e.Seconds
	}
}

func (s *Spool) logDrops(d *dropReport) {
	if d.segments == 0 {
		return
	}
	if d.entries == 0 {
		s.log.Info("spool: full, removed already delivered segments to make room", "segments", d.segments,
			"bytes", d.bytes, "max_bytes", s.maxBytes, "dir", s.dir)
		return
	}
	s.log.Error("spool: FULL, dropped the oldest spooled records to make room for new ones; their GPU-hours are lost",
		"dropped_entries", d.entries, "dropped_gpu_seconds", d.seconds, "dropped_gpu_hours", d.seconds/3600,
		"oldest_dropped", d.oldest, "newest_dropped", d.newest, "segments", d.segments, "bytes", d.bytes,
		"max_bytes", s.maxBytes, "dir", s.dir,
		"dropped_entries_since_open", s.droppedEntries, "dropped_gpu_seconds_since_open", s.droppedSeconds)
}

// removeFrontLocked deletes the n oldest segment files. The acknowledged position moves to the start of the next.
func (s *Spool) removeFrontLocked(n int) {
	for _, g := range s.segs[:n] {
		if g == s.active {
			s.abandonActiveLocked()
		}
		if s.rf != nil && s.rfSeq == g.seq {
			s.rf.Close()
			s.rf, s.rfSeq = nil, 0
		}
		path := filepath.Join(s.dir, segmentName(g.seq))
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			// Its sequence number is below the ack position or it was dropped: the next Open deletes it or, at worst,
			// replays it (safe, idempotent downstream).
			s.log.Warn("spool: could not delete a segment", "file", path, "error", err)
		}
		s.bytes -= g.size
		s.entries -= g.count
	}
	if n > 0 {
		clear(s.segs[:n])
		s.segs = s.segs[n:]
		s.headOff, s.headIdx = 0, 0
	}
}

func (s *Spool) readFileLocked(g *segment) (*os.File, error) {
	if s.rf != nil && s.rfSeq == g.seq {
		return s.rf, nil
	}
	f, err := os.Open(filepath.Join(s.dir, segmentName(g.seq)))
	if err != nil {
		return nil, err
	}
	if s.rf != nil {
		s.rf.Close()
	}
	s.rf, s.rfSeq = f, g.seq
	return f, nil
}

// Read returns up to max of the oldest unacknowledged entries, in append order, and a cursor that acknowledges them.
// It never waits for entries: with nothing pending it returns no entries and a zero Cursor. Until Ack, every Read
// starts from the same place, so calling it again returns the same entries. The entries' bytes are the caller's.
func (s *Spool) Read(max int) ([]Entry, Cursor, error) {
	if max <= 0 {
		return nil, Cursor{}, fmt.Errorf("spool: Read(%d): max must be positive", max)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, Cursor{}, ErrClosed
	}
	var out []Entry
	var cur Cursor
	if pending := s.entries - s.headIdx; pending > 0 {
		out = make([]Entry, 0, min(max, pending))
	}
	off, idx := s.headOff, s.headIdx
	for i := 0; i < len(s.segs) && len(out) < max; i++ {
		g := s.segs[i]
		if i > 0 {
			off, idx = 0, 0
		}
		if off >= g.size {
			continue
		}
		f, err := s.readFileLocked(g)
		if err != nil {
			return nil, Cursor{}, fmt.Errorf("spool: %w", err)
		}
		s.fr.reset(f, off, g.size)
		for len(out) < max {
			e, n, err := s.fr.next(nil)
			if err == io.EOF {
				break
			}
			if isCorrupt(err) {
				// Data that verified when written or at Open no longer does: the disk is failing. Keep what reads.
				s.truncateBrokenLocked(g, s.fr.off, idx, err.Error())
				break
			}
			if err != nil {
				return nil, Cursor{}, fmt.Errorf("spool: read %s: %w", segmentName(g.seq), err)
			}
			if len(out) == 0 {
				s.headTime, s.headTimeSeq, s.headTimeOff = e.Time, g.seq, off
			}
			out = append(out, e)
			off += n
			idx++
			cur = Cursor{seq: g.seq, off: off, idx: idx}
		}
	}
	return out, cur, nil
}

// truncateBrokenLocked quarantines a segment's tail found unreadable after Open and forgets its entries.
func (s *Spool) truncateBrokenLocked(g *segment, off int64, idx int, reason string) {
	if g == s.active {
		s.abandonActiveLocked()
	}
	s.quarantineTail(filepath.Join(s.dir, segmentName(g.seq)), off, reason)
	lost := g.count - idx
	s.log.Error("spool: lost entries to a corrupt segment", "segment", segmentName(g.seq), "offset", off,
		"entries", lost)
	s.bytes -= g.size - off
	s.entries -= lost
	g.size, g.count = off, idx
}

// Ack marks every entry up to and including the cursor's as delivered. It persists the position (ack file: write a
// temporary file, fsync, rename, fsync the directory) before deleting fully delivered segments, so a restart never
// replays them; a crash between Kafka's acknowledgement and this call replays those entries, which is safe because
// records are idempotent downstream. A cursor at or behind the acknowledged position (for example from before its
// entries were dropped) is ignored.
func (s *Spool) Ack(c Cursor) error {
	if c.IsZero() {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if len(s.segs) == 0 {
		return nil
	}
	if c.seq < s.segs[0].seq || (c.seq == s.segs[0].seq && c.off <= s.headOff) {
		return nil
	}
	i := sort.Search(len(s.segs), func(i int) bool { return s.segs[i].seq >= c.seq })
	if i == len(s.segs) || s.segs[i].seq != c.seq {
		return fmt.Errorf("spool: Ack: cursor names segment %d, which the spool does not hold", c.seq)
	}
	g := s.segs[i]
	if c.off > g.size || c.idx > g.count {
		return fmt.Errorf("spool: Ack: cursor %d:%d lies past the end of its segment (%d bytes)", c.seq, c.off, g.size)
	}
	if err := writeFileAtomic(s.dir, ackFileName, ackTmpName, encodeAck(c.seq, c.off)); err != nil {
		return fmt.Errorf("spool: persist ack: %w", err)
	}
	if c.off == g.size && g != s.active {
		s.removeFrontLocked(i + 1)
		return nil
	}
	s.removeFrontLocked(i)
	s.headOff, s.headIdx = c.off, c.idx
	return nil
}

// Stats returns current sizes and loss counters.
func (s *Spool) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Stats{
		Bytes:          s.bytes,
		Entries:        s.entries - s.headIdx,
		Segments:       len(s.segs),
		DroppedEntries: s.droppedEntries,
		DroppedSeconds: s.droppedSeconds,
		Quarantined:    s.quarantined,
	}
	if st.Entries > 0 && !s.closed {
		if oldest, ok := s.oldestLocked(); ok {
			st.OldestAge = max(0, s.now().Sub(oldest))
		}
	}
	return st
}

// oldestLocked returns the Time of the first pending entry, or of a later segment's earliest entry if older.
func (s *Spool) oldestLocked() (time.Time, bool) {
	var oldest time.Time
	found := false
	for i, g := range s.segs {
		off := int64(0)
		if i == 0 {
			off = s.headOff
		}
		if off >= g.size {
			continue
		}
		t := g.minTime
		if !found && off > 0 {
			t = s.headTimeLocked(g)
		}
		if !found || t.Before(oldest) {
			oldest, found = t, true
		}
	}
	return oldest, found
}

// headTimeLocked returns the Time of the first pending entry, which is in partly acknowledged segment g.
func (s *Spool) headTimeLocked(g *segment) time.Time {
	if s.headTimeSeq == g.seq && s.headTimeOff == s.headOff {
		return s.headTime
	}
	if f, err := s.readFileLocked(g); err == nil {
		s.fr.reset(f, s.headOff, g.size)
		if e, _, err := s.fr.next(nil); err == nil {
			s.headTime, s.headTimeSeq, s.headTimeOff = e.Time, g.seq, s.headOff
			return e.Time
		}
	}
	return g.minTime
}

// Close releases the spool's files and directory lock. Everything appended is already durable. Close is idempotent.
func (s *Spool) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	err := s.closeFiles()
	if s.lockFile != nil {
		err = errors.Join(err, s.lockFile.Close())
		s.lockFile = nil
	}
	return err
}

func (s *Spool) closeFiles() error {
	var err error
	if s.wf != nil {
		err = s.wf.Close()
	}
	if s.rf != nil {
		err = errors.Join(err, s.rf.Close())
	}
	s.active, s.wf, s.rf, s.rfSeq = nil, nil, nil, 0
	return err
}
