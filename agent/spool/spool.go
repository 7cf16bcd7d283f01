// Package spool is the node agent's on-disk queue of closed usage records.
//
// A record is appended (and fsynced) before it is sent to Kafka and removed only after Kafka acknowledged it, so a
// Kafka outage or an agent restart loses nothing: the agent keeps measuring and appending, and replays the backlog in
// order when Kafka is back. Disk use is bounded by Options.MaxBytes and by the file system's free space (beyond
// Options.MinFreeBytes); when either is reached the OLDEST entries are dropped (keeping the newest), logged at ERROR
// level and counted in Stats.
//
// Delivery is at-least-once. Entries acknowledged just before a crash, or appended by an Append that returned an
// error, can be read again after a restart or a retry. That is safe: a record's identity is (node, device uuid,
// attribution, window_start) and every consumer downstream is idempotent on it (docs/design.md, "Identity and
// exactly-once effect").
//
// The on-disk format is described in format.go.
package spool

import (
	"context"
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

	"github.com/gpumeter/gpumeter/agent/atomicfile"
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

	padding bool // a padding frame (format.go), never returned by Read
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
	// MinFreeBytes is the free space the spool leaves on its file system: free disk is part of its budget, so when
	// other files (or the spool itself) fill the disk the oldest entries are dropped, as when MaxBytes is reached,
	// and Stats.DiskFull is set. Default 32 MiB; negative: free space is not watched.
	MinFreeBytes int64
	// FreeBytes reports the bytes available to this process on the file system holding dir. Default: statfs(2).
	FreeBytes func(dir string) (int64, error)
	// Log receives recovery, quarantine and drop messages. Default slog.Default().
	Log *slog.Logger
	// Now is the clock for Stats.OldestAge: the agent's clock, virtual or not, since entries' Time comes from it.
	// Default time.Now.
	Now func() time.Time
}

const (
	defaultMaxBytes     = 1 << 30
	defaultSegmentBytes = 4 << 20
	defaultMinFreeBytes = 32 << 20
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
	// CorruptEntries counts entries lost to unreadable data (a flipped bit, a torn write) since Open; CorruptSeconds
	// their GPU-seconds where known (entries that were readable once in this process; not those found at Open).
	CorruptEntries int64
	CorruptSeconds float64
	// MissingSegments counts segment files found missing at Open between ones that exist: their entries are lost,
	// and how many there were is not known.
	MissingSegments int
	// DiskFull is set while the last Append found no room on the file system beyond MinFreeBytes (it dropped the
	// oldest entries for room, or could not write at all); DiskFreeBytes is the free space it measured.
	DiskFull      bool
	DiskFreeBytes int64
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
	minFree   int64
	freeBytes func(dir string) (int64, error)
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

	droppedEntries  int64
	droppedSeconds  float64
	quarantined     int
	corruptEntries  int64
	corruptSeconds  float64
	missingSegments int
	diskFull        bool
	diskFree        int64

	encBuf []byte
	ends   []int
}

// Open opens the spool in opts.Dir, creating it if needed, and recovers what an earlier process left: every segment
// is checked entry by entry; unreadable bytes (a write cut by power loss, a flipped bit) are moved to quarantine/ with
// one WARN line: the readable entries before them are kept, and so are those after them (the spool resynchronises on
// the next valid frame and pads over the unreadable stretch). Lost entries are counted (Stats.CorruptEntries), and so
// are segment files missing between others. Appends always go to a new segment. A missing or unreadable ack file
// means every spooled entry is replayed. Open fails at once if another Spool holds the directory; OpenWait waits.
func Open(opts Options) (*Spool, error) { return openSpool(context.Background(), opts, false) }

// OpenWait is Open, but when another process holds the directory (two agents of one node during a rolling update)
// it waits for it to let go, until ctx ends, logging once. The second agent then resumes from what the first left:
// its checkpoint and its spool, so the two never meter the same time.
func OpenWait(ctx context.Context, opts Options) (*Spool, error) { return openSpool(ctx, opts, true) }

func openSpool(ctx context.Context, opts Options, wait bool) (*Spool, error) {
	if opts.Dir == "" {
		return nil, errors.New("spool: Options.Dir is empty")
	}
	if opts.MaxBytes < 0 || opts.SegmentBytes < 0 {
		return nil, fmt.Errorf("spool: negative MaxBytes %d or SegmentBytes %d", opts.MaxBytes, opts.SegmentBytes)
	}
	s := &Spool{
		dir:       opts.Dir,
		qdir:      filepath.Join(opts.Dir, quarantineDir),
		log:       opts.Log,
		now:       opts.Now,
		maxBytes:  opts.MaxBytes,
		segBytes:  opts.SegmentBytes,
		minFree:   opts.MinFreeBytes,
		freeBytes: opts.FreeBytes,
		fr:        newFrameReader(),
		nextSeq:   1,
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.log = s.log.With("component", "spool")
	if s.minFree == 0 {
		s.minFree = defaultMinFreeBytes
	}
	if s.freeBytes == nil {
		s.freeBytes = diskFree
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
	for logged := false; errors.Is(err, errLocked) && wait; lf, err = lockDir(filepath.Join(s.dir, lockFileName)) {
		if !logged {
			s.log.Warn("another agent holds the state directory; waiting for it to stop, then resuming from what it leaves",
				"dir", s.dir)
			logged = true
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("spool: waiting for %s: %w", s.dir, ctx.Err())
		case <-time.After(250 * time.Millisecond):
		}
	}
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
			s.log.Info("no ack file; replaying every spooled entry from the oldest segment",
				"dir", s.dir, "segments", len(seqs))
		}
	case err != nil:
		return err
	default:
		ackSeq, ackOff, err = decodeAck(b)
		if err != nil {
			s.log.Warn("ack file is corrupt; replaying every spooled entry from the oldest segment",
				"file", ackPath, "err", err, "segments", len(seqs))
			break
		}
		haveAck = true
		// Sequence numbers are never reused: a new segment must sort after the acknowledged one.
		s.nextSeq = max(s.nextSeq, ackSeq+1)
	}

	s.checkMissing(seqs, ackSeq, haveAck)

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
			// bytes stay for the next Open to retry; they are not part of the spool meanwhile. An empty file stays
			// too, so that the sequence shows no gap (checkMissing); it goes once acknowledged past.
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
			s.log.Warn("ack position is not an entry boundary; replaying its segment from the start",
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
	s.log.Info("opened", "dir", s.dir, "segments", len(s.segs), "pending_entries", s.entries-s.headIdx,
		"bytes", s.bytes, "removed_segments", removed, "quarantined_files", s.quarantined)
	return nil
}

// checkMissing logs and counts segment files missing from the sequence after the acknowledged one: sequence numbers
// are consecutive and a segment is deleted only when acknowledged or dropped (both move the ack file past it), so a
// gap is a file deleted by someone else, or lost by the file system. Its entries are lost; how many is not known.
func (s *Spool) checkMissing(seqs []uint64, ackSeq uint64, haveAck bool) {
	prev := uint64(0)
	if haveAck {
		prev = ackSeq
	}
	for _, seq := range seqs {
		if seq <= prev {
			continue
		}
		if prev > 0 && seq > prev+1 {
			n := int(seq - prev - 1)
			s.missingSegments += n
			s.log.Error("segment files are missing from the spool; the records they held are lost (how many is not known)",
				"dir", s.dir, "first_missing", segmentName(prev+1), "last_missing", segmentName(seq-1), "segments", n)
		}
		prev = seq
	}
}

// scanSegment checks every entry of a segment file. Unreadable bytes with a valid frame after them are quarantined
// and padded over (repair), and the scan goes on after them; an unreadable tail is quarantined and cut. Entries lost
// either way after the acknowledged position are counted. With mark >= 0 it also returns the number of entries
// before offset mark, or -1 if mark is not an entry boundary.
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
			off := s.fr.off
			end, lost, rerr := s.repair(path, off, err.Error())
			if rerr != nil {
				return nil, -1, rerr
			}
			if mark < 0 || end > mark {
				s.corruptEntries += int64(lost)
			}
			if end < 0 { // tail cut
				break
			}
			g.size += end - off // the padding frame
			s.fr.reset(f, end, st.Size())
			continue
		}
		if err != nil {
			return nil, -1, err
		}
		if n > int64(cap(buf)) && n <= 1<<20 {
			buf = make([]byte, 0, n)
		}
		if e.padding {
			g.size += n
			continue
		}
		g.add(&e, n)
	}
	return g, markIdx, nil
}

// repair deals with unreadable bytes at off in the segment file at path: if a valid frame follows them, they are
// copied to quarantine/ and overwritten with one padding frame of the same size, and repair returns the offset of that
// frame; else the tail from off is quarantined and cut (end -1). lost is how many entries the bytes held, as far as
// their length fields tell (framesIn). Each stretch is logged once, at WARN.
func (s *Spool) repair(path string, off int64, reason string) (end int64, lost int, err error) {
	b, err := readFrom(path, off)
	if err != nil {
		return -1, 0, err
	}
	i := resync(b)
	if i < 0 || i < minPaddingLen {
		lost = framesIn(b)
		s.quarantineTail(path, off, reason, lost)
		return -1, lost, nil
	}
	lost = framesIn(b[:i])
	qpath, err := s.quarantineCopy(path, off, b[:i])
	if err != nil {
		s.log.Error("could not quarantine unreadable bytes of a segment; cutting the segment there instead",
			"file", path, "offset", off, "err", err)
		s.quarantineTail(path, off, reason, framesIn(b))
		return -1, framesIn(b), nil
	}
	if err := writeAt(path, off, appendPadding(nil, i)); err != nil {
		return -1, 0, fmt.Errorf("pad over unreadable bytes of %s at %d: %w", path, off, err)
	}
	s.log.Warn("quarantined unreadable bytes in a segment and resynchronised on the next valid entry; the entries after them are kept",
		"file", path, "offset", off, "bytes", i, "lost_entries", lost, "resumed_at", off+int64(i), "quarantine", qpath,
		"reason", reason)
	return off + int64(i), lost, nil
}

func readFrom(path string, off int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	b := make([]byte, max(0, st.Size()-off))
	if _, err := f.ReadAt(b, off); err != nil && err != io.EOF {
		return nil, err
	}
	return b, nil
}

func writeAt(path string, off int64, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	if _, err := f.WriteAt(b, off); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// quarantineCopy saves b, the bytes at off of the segment file at path, to a new file in quarantine/.
func (s *Spool) quarantineCopy(path string, off int64, b []byte) (string, error) {
	dst, qpath, err := s.createQuarantine(path, off)
	if err != nil {
		return "", err
	}
	if _, err := dst.Write(b); err != nil {
		dst.Close()
		os.Remove(qpath)
		return "", err
	}
	if err := dst.Sync(); err != nil {
		dst.Close()
		os.Remove(qpath)
		return "", err
	}
	if err := dst.Close(); err != nil {
		return "", err
	}
	s.quarantined++
	return qpath, syncDir(s.qdir)
}

func (s *Spool) createQuarantine(path string, off int64) (*os.File, string, error) {
	base := fmt.Sprintf("%s.%d.corrupt-%d", filepath.Base(path), off, time.Now().Unix())
	for i := 0; ; i++ {
		qpath := filepath.Join(s.qdir, base)
		if i > 0 {
			qpath = fmt.Sprintf("%s.%d", qpath, i)
		}
		dst, err := os.OpenFile(qpath, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err == nil || !errors.Is(err, fs.ErrExist) || i >= 100 {
			return dst, qpath, err
		}
	}
}

// quarantineTail moves the bytes of the segment file at path from off to its end into quarantine/ and truncates the
// segment to off, logging one WARN line. If the move fails the tail stays in place (the caller reads only up to off)
// and the next Open tries again.
func (s *Spool) quarantineTail(path string, off int64, reason string, lost int) {
	qpath, n, err := s.moveTail(path, off)
	if err != nil {
		s.log.Error("could not quarantine the unreadable tail of a segment; reading only the entries before it",
			"file", path, "offset", off, "reason", reason, "err", err)
		return
	}
	s.quarantined++
	s.log.Warn("quarantined the unreadable tail of a segment; entries before it are kept",
		"file", path, "offset", off, "bytes", n, "lost_entries", lost, "quarantine", qpath, "reason", reason)
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
	dst, qpath, err := s.createQuarantine(path, off)
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

	// Free disk is part of the budget: the spool may grow only while MinFreeBytes stay free. Our own writes and drops
	// change s.bytes and the free space alike, so the budget is measured once per call.
	budget, total := s.maxBytes, int64(len(buf))
	if s.minFree >= 0 {
		if free, err := s.freeBytes(s.dir); err == nil {
			s.diskFree = free
			// Full: the disk, not MaxBytes, bounds the spool, and the spool is within a segment of that bound
			// (dropping, or about to). It clears when the disk has room again.
			disk := s.bytes + free - s.minFree
			s.diskFull = disk < budget && s.bytes+total > disk-min(s.segBytes, max(1, disk/8))
			budget = min(budget, disk)
		} else {
			s.log.Warn("cannot tell the free disk space; only MaxBytes bounds the spool", "dir", s.dir, "err", err)
		}
	}
	for attempt := 0; ; attempt++ {
		err := s.appendLocked(entries, buf, ends, budget, &d)
		if err == nil || !isNoSpace(err) || s.bytes == 0 || attempt >= 64 {
			if err != nil && isNoSpace(err) {
				s.diskFull = true
			}
			s.persistHeadAfterDropLocked(&d)
			return err
		}
		// The file system is fuller than it said (another writer, reserved blocks): make room and write again.
		// Entries of this call written before the error may be written twice, which is safe.
		s.diskFull = true
		s.dropOldestLocked(&d)
	}
}

// persistHeadAfterDropLocked moves the ack file past segments dropped for room, so that the next Open does not take
// them for missing ones (checkMissing).
func (s *Spool) persistHeadAfterDropLocked(d *dropReport) {
	if d.segments == 0 {
		return
	}
	seq, off := s.nextSeq, int64(0)
	if len(s.segs) > 0 {
		seq, off = s.segs[0].seq, s.headOff
	}
	if err := atomicfile.WriteFile(filepath.Join(s.dir, ackFileName), encodeAck(seq, off)); err != nil {
		s.log.Warn("could not record the dropped segments in the ack file; the next start reports them missing",
			"dir", s.dir, "err", err)
	}
}

// appendLocked writes the encoded entries (buf, frame ends at ends), dropping the oldest segments while the spool
// would exceed budget bytes.
func (s *Spool) appendLocked(entries []Entry, buf []byte, ends []int, budget int64, d *dropReport) error {
	// Segments stay at most an eighth of the budget, also when a small disk rather than MaxBytes sets it, so that one
	// drop never discards much more than it must.
	segLimit := min(s.segBytes, max(1, budget/8))
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
		if s.active != nil && s.active.size+pendBytes > 0 && s.active.size+pendBytes+n > segLimit {
			if err := flush(i); err != nil {
				return err
			}
			if err := s.sealLocked(); err != nil {
				return err
			}
			pendBytes = 0
		}
		for s.bytes+pendBytes+n > budget && len(s.segs) > 0 {
			if err := flush(i); err != nil {
				return err
			}
			pendBytes = 0
			s.dropOldestLocked(d)
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
			s.log.Error("could not cut a failed write; the next Open will quarantine it",
				"file", s.wf.Name(), "offset", g.size, "err", terr)
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
			s.log.Error("could not read the segment being dropped; its GPU-seconds are not counted",
				"segment", segmentName(g.seq), "err", err)
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
		if e.padding {
			continue
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
		s.log.Info("full, removed already delivered segments to make room", "segments", d.segments,
			"bytes", d.bytes, "max_bytes", s.maxBytes, "dir", s.dir)
		return
	}
	s.log.Error("FULL, dropped the oldest spooled records to make room for new ones; their GPU-hours are lost",
		"dropped_entries", d.entries, "dropped_gpu_seconds", d.seconds, "dropped_gpu_hours", d.seconds/3600,
		"oldest_dropped", d.oldest, "newest_dropped", d.newest, "segments", d.segments, "bytes", d.bytes,
		"max_bytes", s.maxBytes, "disk_full", s.diskFull, "disk_free_bytes", s.diskFree, "min_free_bytes", s.minFree,
		"dir", s.dir, "dropped_entries_since_open", s.droppedEntries, "dropped_gpu_seconds_since_open", s.droppedSeconds)
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
			s.log.Warn("could not delete a segment", "file", path, "err", err)
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
		repaired := false
		for len(out) < max {
			e, n, err := s.fr.next(nil)
			if err == io.EOF {
				break
			}
			if isCorrupt(err) && !repaired {
				// Data that verified when written or at Open no longer does: the disk is failing. Repair the segment
				// (resynchronise after the bad bytes) and read on from here.
				if rerr := s.repairLiveLocked(g, s.fr.off, err.Error()); rerr != nil {
					return nil, Cursor{}, fmt.Errorf("spool: read %s: %w", segmentName(g.seq), rerr)
				}
				repaired = true
				if f, err = s.readFileLocked(g); err != nil {
					return nil, Cursor{}, fmt.Errorf("spool: %w", err)
				}
				s.fr.reset(f, off, g.size)
				continue
			}
			if err != nil {
				return nil, Cursor{}, fmt.Errorf("spool: read %s: %w", segmentName(g.seq), err)
			}
			off += n
			if e.padding {
				continue
			}
			if len(out) == 0 {
				s.headTime, s.headTimeSeq, s.headTimeOff = e.Time, g.seq, off-n
			}
			out = append(out, e)
			idx++
			cur = Cursor{seq: g.seq, off: off, idx: idx}
		}
	}
	return out, cur, nil
}

// repairLiveLocked repairs a segment found unreadable at off after Open (repair), then rescans it: the entries lost
// are exactly the difference in its counts, and their GPU-seconds too, since the segment's summary was exact.
func (s *Spool) repairLiveLocked(g *segment, off int64, reason string) error {
	if g == s.active {
		s.abandonActiveLocked()
	}
	if s.rf != nil && s.rfSeq == g.seq {
		s.rf.Close()
		s.rf, s.rfSeq = nil, 0
	}
	path := filepath.Join(s.dir, segmentName(g.seq))
	before := s.corruptEntries
	if _, _, err := s.repair(path, off, reason); err != nil {
		return err
	}
	s.corruptEntries = before // counted exactly below instead
	ng, _, err := s.scanSegment(g.seq, -1)
	if err != nil {
		return err
	}
	lost, secs := g.count-ng.count, g.seconds-ng.seconds
	s.corruptEntries += int64(max(0, lost))
	s.corruptSeconds += max(0, secs)
	s.log.Error("lost spooled entries to a segment that became unreadable", "segment", segmentName(g.seq), "offset", off,
		"lost_entries", lost, "lost_gpu_seconds", secs)
	s.bytes += ng.size - g.size
	s.entries += ng.count - g.count
	ng.seq = g.seq
	*g = *ng
	return nil
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
	if err := atomicfile.WriteFile(filepath.Join(s.dir, ackFileName), encodeAck(c.seq, c.off)); err != nil {
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
		Bytes:           s.bytes,
		Entries:         s.entries - s.headIdx,
		Segments:        len(s.segs),
		DroppedEntries:  s.droppedEntries,
		DroppedSeconds:  s.droppedSeconds,
		Quarantined:     s.quarantined,
		CorruptEntries:  s.corruptEntries,
		CorruptSeconds:  s.corruptSeconds,
		MissingSegments: s.missingSegments,
		DiskFull:        s.diskFull,
		DiskFreeBytes:   s.diskFree,
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
		for {
			e, _, err := s.fr.next(nil)
			if err != nil {
				break
			}
			if !e.padding {
				s.headTime, s.headTimeSeq, s.headTimeOff = e.Time, g.seq, s.headOff
				return e.Time
			}
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
