package spool

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/gpumeter/gpumeter/agent/atomicfile"
)

// On-disk format (all integers little-endian).
//
// A spool directory holds:
//
//	00000000000000000001.seg   segment files, named by a 20-digit sequence number; appended in order, never reused
//	ack                        the acknowledged position (ackFileLen bytes, below)
//	ack.tmp                    the next ack file while it is written; renamed over ack (agent/atomicfile)
//	lock                       flock(2)ed while a Spool has the directory open
//	quarantine/                unreadable segment tails: <segment>.<offset>.corrupt-<unix seconds>
//
// A segment is a sequence of frames with no header:
//
//	offset  size  field
//	0       4     n: payload length in bytes
//	4       4     CRC-32C (Castagnoli) over the 4 length bytes followed by the n payload bytes
//	8       n     payload
//
// The checksum covers the length too, so a torn or zero-filled tail never parses as an entry.
// A payload of version 0 is padding: a stretch of unreadable bytes (a flipped bit, a torn write) that the spool
// found with valid frames after it is copied to quarantine/ and overwritten in place with one padding frame of the
// same size, so the frames after it keep their offsets. Readers skip it. The smallest padding frame is minPaddingLen
// bytes, no more than the smallest entry frame, so any unreadable frame can be padded over.
//
// A payload (version 1):
//
//	0       1     version = 1
//	1       8     Entry.Time, Unix seconds (int64)
//	9       4     Entry.Time, nanoseconds within the second (uint32, < 1e9)
//	13      8     Entry.Seconds (IEEE-754 float64 bits)
//	21      k     len(Entry.Key) as a uvarint
//	21+k    ...   Entry.Key, then Entry.Value (the rest of the payload)
//
// The ack file:
//
//	0       4     magic "GSPA"
//	4       4     version = 1
//	8       8     segment sequence number
//	16      8     byte offset in that segment just past the last acknowledged entry
//	24      4     CRC-32C of bytes 0..24
//
// Every segment with a smaller sequence number than the ack file's is fully acknowledged.
const (
	frameHeaderLen  = 8
	payloadVersion  = 1
	payloadFixedLen = 1 + 8 + 4 + 8
	minPayloadLen   = payloadFixedLen + 1 // an empty key still has its one-byte length
	maxPayloadLen   = 1 << 30             // sanity bound on a length read from disk

	segmentSuffix = ".seg"
	segmentDigits = 20
	ackFileName   = "ack"
	ackTmpName    = ackFileName + atomicfile.TempSuffix
	lockFileName  = "lock"
	quarantineDir = "quarantine"

	minPaddingLen  = frameHeaderLen + 1
	paddingVersion = 0

	ackMagic   = "GSPA"
	ackVersion = 1
	ackFileLen = 28
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func uvarintLen(x uint64) int {
	n := 1
	for x >= 0x80 {
		x >>= 7
		n++
	}
	return n
}

func payloadLen(e *Entry) int {
	return payloadFixedLen + uvarintLen(uint64(len(e.Key))) + len(e.Key) + len(e.Value)
}

// frameLen is the number of bytes e takes in a segment.
func frameLen(e *Entry) int { return frameHeaderLen + payloadLen(e) }

// appendFrame appends e's frame to dst.
func appendFrame(dst []byte, e *Entry) []byte {
	start := len(dst)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(payloadLen(e)))
	dst = append(dst, 0, 0, 0, 0) // checksum, filled in below
	dst = append(dst, payloadVersion)
	dst = binary.LittleEndian.AppendUint64(dst, uint64(e.Time.Unix()))
	dst = binary.LittleEndian.AppendUint32(dst, uint32(e.Time.Nanosecond()))
	dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(e.Seconds))
	dst = binary.AppendUvarint(dst, uint64(len(e.Key)))
	dst = append(dst, e.Key...)
	dst = append(dst, e.Value...)
	crc := crc32.Update(0, castagnoli, dst[start:start+4])
	crc = crc32.Update(crc, castagnoli, dst[start+frameHeaderLen:])
	binary.LittleEndian.PutUint32(dst[start+4:], crc)
	return dst
}

// decodePayload parses a checksummed payload. Key and Value alias p. A padding payload gives an Entry with padding set.
func decodePayload(p []byte) (Entry, error) {
	if len(p) >= 1 && p[0] == paddingVersion {
		return Entry{padding: true}, nil
	}
	if len(p) < minPayloadLen {
		return Entry{}, fmt.Errorf("payload of %d bytes is shorter than %d", len(p), minPayloadLen)
	}
	if p[0] != payloadVersion {
		return Entry{}, fmt.Errorf("unknown entry version %d", p[0])
	}
	sec := int64(binary.LittleEndian.Uint64(p[1:9]))
	nsec := binary.LittleEndian.Uint32(p[9:13])
	if nsec >= 1e9 {
		return Entry{}, fmt.Errorf("nanoseconds %d out of range", nsec)
	}
	e := Entry{
		Time:    time.Unix(sec, int64(nsec)).UTC(),
		Seconds: math.Float64frombits(binary.LittleEndian.Uint64(p[13:21])),
	}
	rest := p[payloadFixedLen:]
	kl, k := binary.Uvarint(rest)
	if k <= 0 || kl > uint64(len(rest)-k) {
		return Entry{}, errors.New("key length runs past the payload")
	}
	rest = rest[k:]
	if kl > 0 {
		e.Key = rest[:kl:kl]
	}
	if len(rest) > int(kl) {
		e.Value = rest[kl:]
	}
	return e, nil
}

// corruptError marks data that cannot be an entry: a torn write, a flipped bit, garbage.
type corruptError struct{ reason string }

func (e *corruptError) Error() string { return e.reason }

func corrupt(format string, args ...any) error {
	return &corruptError{reason: fmt.Sprintf(format, args...)}
}

func isCorrupt(err error) bool {
	var c *corruptError
	return errors.As(err, &c)
}

// frameReader reads frames of one segment file between two offsets.
type frameReader struct {
	br  *bufio.Reader
	off int64 // offset of the next frame
	end int64 // where readable data ends
	hdr [frameHeaderLen]byte
}

func newFrameReader() *frameReader {
	return &frameReader{br: bufio.NewReaderSize(nil, 256<<10)}
}

func (r *frameReader) reset(f io.ReaderAt, off, end int64) {
	r.br.Reset(io.NewSectionReader(f, off, end-off))
	r.off, r.end = off, end
}

// next decodes the frame at r.off and advances past it. buf is used for the payload when it is large enough; the
// entry's Key and Value alias it. next returns io.EOF at r.end, a *corruptError for a frame that is truncated, fails
// its checksum or does not decode (r.off still points at that frame), and other errors as they come from the file.
func (r *frameReader) next(buf []byte) (Entry, int64, error) {
	rem := r.end - r.off
	if rem <= 0 {
		return Entry{}, 0, io.EOF
	}
	if rem < frameHeaderLen {
		return Entry{}, 0, corrupt("truncated entry header: %d of %d bytes", rem, frameHeaderLen)
	}
	if _, err := io.ReadFull(r.br, r.hdr[:]); err != nil {
		return Entry{}, 0, readErr(err)
	}
	n := int64(binary.LittleEndian.Uint32(r.hdr[0:4]))
	if n < minPaddingLen-frameHeaderLen || n > maxPayloadLen {
		return Entry{}, 0, corrupt("impossible entry length %d", n)
	}
	if n > rem-frameHeaderLen {
		return Entry{}, 0, corrupt("truncated entry: length %d, %d bytes left", n, rem-frameHeaderLen)
	}
	if int64(cap(buf)) >= n {
		buf = buf[:n]
	} else {
		buf = make([]byte, n)
	}
	if _, err := io.ReadFull(r.br, buf); err != nil {
		return Entry{}, 0, readErr(err)
	}
	crc := crc32.Update(0, castagnoli, r.hdr[0:4])
	crc = crc32.Update(crc, castagnoli, buf)
	if want := binary.LittleEndian.Uint32(r.hdr[4:8]); crc != want {
		return Entry{}, 0, corrupt("checksum mismatch: stored %08x, computed %08x", want, crc)
	}
	e, err := decodePayload(buf)
	if err != nil {
		return Entry{}, 0, corrupt("%v", err)
	}
	r.off += frameHeaderLen + n
	return e, frameHeaderLen + n, nil
}

// readErr turns running out of file (it shrank under us) into corruption; anything else is an I/O error.
func readErr(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return corrupt("file ends inside an entry")
	}
	return err
}

func segmentName(seq uint64) string {
	return fmt.Sprintf("%0*d%s", segmentDigits, seq, segmentSuffix)
}

// parseSegmentName returns the sequence number of a segment file name.
func parseSegmentName(name string) (uint64, bool) {
	digits, ok := strings.CutSuffix(name, segmentSuffix)
	if !ok || len(digits) != segmentDigits {
		return 0, false
	}
	seq, err := strconv.ParseUint(digits, 10, 64)
	if err != nil || seq == 0 {
		return 0, false
	}
	return seq, true
}

func encodeAck(seq uint64, off int64) []byte {
	b := make([]byte, ackFileLen)
	copy(b[0:4], ackMagic)
	binary.LittleEndian.PutUint32(b[4:8], ackVersion)
	binary.LittleEndian.PutUint64(b[8:16], seq)
	binary.LittleEndian.PutUint64(b[16:24], uint64(off))
	binary.LittleEndian.PutUint32(b[24:28], crc32.Checksum(b[:24], castagnoli))
	return b
}

func decodeAck(b []byte) (seq uint64, off int64, err error) {
	if len(b) != ackFileLen {
		return 0, 0, fmt.Errorf("%d bytes, want %d", len(b), ackFileLen)
	}
	if string(b[0:4]) != ackMagic {
		return 0, 0, fmt.Errorf("bad magic %q", b[0:4])
	}
	if got, want := crc32.Checksum(b[:24], castagnoli), binary.LittleEndian.Uint32(b[24:28]); got != want {
		return 0, 0, fmt.Errorf("checksum mismatch: stored %08x, computed %08x", want, got)
	}
	if v := binary.LittleEndian.Uint32(b[4:8]); v != ackVersion {
		return 0, 0, fmt.Errorf("unknown version %d", v)
	}
	seq = binary.LittleEndian.Uint64(b[8:16])
	off = int64(binary.LittleEndian.Uint64(b[16:24]))
	if seq == 0 || off < 0 {
		return 0, 0, fmt.Errorf("impossible position %d:%d", seq, off)
	}
	return seq, off, nil
}

// syncDir makes the directory's entries (created, renamed files) durable.
func syncDir(dir string) error { return atomicfile.SyncDir(dir) }

// appendPadding appends a padding frame of exactly n bytes (n >= minPaddingLen) to dst: what a repaired stretch of
// unreadable bytes is overwritten with, so the frames after it stay readable at the same offsets.
func appendPadding(dst []byte, n int) []byte {
	start := len(dst)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(n-frameHeaderLen))
	dst = append(dst, 0, 0, 0, 0)
	dst = append(dst, make([]byte, n-frameHeaderLen)...) // version 0: padding; the rest zero
	crc := crc32.Update(0, castagnoli, dst[start:start+4])
	crc = crc32.Update(crc, castagnoli, dst[start+frameHeaderLen:])
	binary.LittleEndian.PutUint32(dst[start+4:], crc)
	return dst
}

// validFrameAt reports whether b starts with a whole frame that passes its checksum and decodes, and its length.
func validFrameAt(b []byte) (int, bool) {
	if len(b) < frameHeaderLen {
		return 0, false
	}
	n := int64(binary.LittleEndian.Uint32(b[0:4]))
	if n < minPayloadLen || n > maxPayloadLen || n > int64(len(b)-frameHeaderLen) {
		return 0, false
	}
	payload := b[frameHeaderLen : frameHeaderLen+n]
	crc := crc32.Update(0, castagnoli, b[0:4])
	crc = crc32.Update(crc, castagnoli, payload)
	if crc != binary.LittleEndian.Uint32(b[4:8]) {
		return 0, false
	}
	if _, err := decodePayload(payload); err != nil {
		return 0, false
	}
	return frameHeaderLen + int(n), true
}

// resync finds the first offset after the start of b at which a valid frame begins, or -1. A false match needs a
// plausible length and a matching CRC-32C by chance: about one in 2^32 per candidate.
func resync(b []byte) int {
	for i := 1; i+frameHeaderLen+minPayloadLen <= len(b); i++ {
		if _, ok := validFrameAt(b[i:]); ok {
			return i
		}
	}
	return -1
}

// framesIn estimates how many frames the unreadable bytes b held: it follows the length fields while they land
// inside b, and counts what is left as one. A single flipped bit gives exactly 1.
func framesIn(b []byte) int {
	n, off := 0, 0
	for off < len(b) {
		n++
		if len(b)-off < frameHeaderLen {
			break
		}
		l := int64(binary.LittleEndian.Uint32(b[off : off+4]))
		if l < minPayloadLen || int64(off)+frameHeaderLen+l > int64(len(b)) {
			break
		}
		off += frameHeaderLen + int(l)
	}
	return n
}
