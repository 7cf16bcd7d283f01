package consume

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
)

// Dead-letter headers say why and where a message came from. The value is the original byte for byte, or its
// beginning when the original does not fit (HeaderTruncated then holds the original size); the same for the key.
const (
	HeaderError     = "gpumeter-error"
	HeaderTopic     = "gpumeter-source-topic"
	HeaderPartition = "gpumeter-source-partition"
	HeaderOffset    = "gpumeter-source-offset"
	// HeaderTruncated names the original size of a value that was cut to fit.
	HeaderTruncated = "gpumeter-truncated-from-bytes"
	// HeaderKeyTruncated names the original size of a key that was cut to fit.
	HeaderKeyTruncated = "gpumeter-key-truncated-from-bytes"
	// HeaderHeadersDropped counts the original headers left out (they did not fit), with their original bytes.
	HeaderHeadersDropped = "gpumeter-headers-dropped"
)

// deadLetterLimits is the budget one dead letter gets. A dead letter that cannot be written would block its
// partition for good, so it always fits: well below the writer's batch limit and the broker's default
// message.max.bytes (1 MiB). The original stays in the source topic, at the offset the headers name, until retention.
type deadLetterLimits struct {
	total   int // key + value + every header
	key     int
	reason  int // the error text
	headers int // the original headers, keys and values together
}

var defaultDeadLetterLimits = deadLetterLimits{total: 512 << 10, key: 4 << 10, reason: 2 << 10, headers: 16 << 10}

// smaller is the budget after the broker refused a dead letter as too large anyway (a topic with a small
// max.message.bytes): a quarter each time, down to a pointer without key or value.
func (l deadLetterLimits) smaller() (deadLetterLimits, bool) {
	if l.total <= 0 {
		return l, false
	}
	l.total /= 4
	l.key = min(l.key, l.total/8)
	l.headers = min(l.headers, l.total/8)
	l.reason = min(l.reason, 512)
	if l.total < 1024 {
		l = deadLetterLimits{reason: 256}
	}
	return l, true
}

// deadLetterSource is a message to set aside and why.
type deadLetterSource struct {
	msg    kafka.Message
	reason error
}

// deadLetter builds the dead letter for m within lim.
func deadLetter(m kafka.Message, reason error, lim deadLetterLimits) kafka.Message {
	text := reason.Error()
	if len(text) > lim.reason {
		text = text[:lim.reason]
	}
	headers := []kafka.Header{
		{Key: HeaderError, Value: []byte(text)},
		{Key: HeaderTopic, Value: []byte(m.Topic)},
		{Key: HeaderPartition, Value: []byte(strconv.Itoa(m.Partition))},
		{Key: HeaderOffset, Value: []byte(strconv.FormatInt(m.Offset, 10))},
	}
	used := 0
	for _, h := range headers {
		used += len(h.Key) + len(h.Value)
	}
	key := m.Key
	if len(key) > lim.key {
		headers = append(headers, kafka.Header{Key: HeaderKeyTruncated, Value: []byte(strconv.Itoa(len(key)))})
		key = key[:lim.key]
	}
	var dropped, droppedBytes, kept int
	for _, h := range m.Headers {
		n := len(h.Key) + len(h.Value)
		if kept+n > lim.headers {
			dropped++
			droppedBytes += n
			continue
		}
		kept += n
		headers = append(headers, h)
	}
	if dropped > 0 {
		headers = append(headers, kafka.Header{Key: HeaderHeadersDropped,
			Value: []byte(fmt.Sprintf("%d headers, %d bytes", dropped, droppedBytes))})
	}
	for _, h := range headers[4:] {
		used += len(h.Key) + len(h.Value)
	}
	room := max(0, lim.total-used-len(key)-64) // 64: the truncation header, should it be needed
	value := m.Value
	if len(value) > room {
		headers = append(headers, kafka.Header{Key: HeaderTruncated, Value: []byte(strconv.Itoa(len(value)))})
		value = value[:room]
	}
	if value == nil {
		// kafka-go reads an empty value as nil and writes nil as null: an empty value stays empty.
		value = []byte{}
	}
	return kafka.Message{Key: key, Value: value, Headers: headers}
}

// writeDeadLetters writes every dead letter, waiting out a broker that is away. A broker that refuses one as too
// large gets it again on a smaller budget. It returns an error only when ctx ends (shutdown).
func (c *Consumer) writeDeadLetters(ctx context.Context, src []deadLetterSource) error {
	lim := defaultDeadLetterLimits
	pending := make([]int, len(src)) // indexes into src still to write
	for i := range pending {
		pending[i] = i
	}
	b := newBackoff(c.cfg.MaxBackoff)
	for {
		msgs := make([]kafka.Message, len(pending))
		for i, k := range pending {
			msgs[i] = deadLetter(src[k].msg, src[k].reason, lim)
		}
		err := c.deps.DeadLetters.WriteMessages(ctx, msgs...)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return fmt.Errorf("write dead letters: gave up at shutdown, batch left uncommitted for redelivery: %w", err)
		}
		var failed kafka.WriteErrors
		if errors.As(err, &failed) && len(failed) == len(pending) {
			var still []int
			for i, e := range failed {
				if e != nil {
					still = append(still, pending[i])
				}
			}
			pending = still
			if len(pending) == 0 {
				break
			}
		}
		if tooLarge(err) {
			if smaller, ok := lim.smaller(); ok {
				lim = smaller
				c.log.Warn("the broker refused a dead letter as too large; writing it again on a smaller budget",
					"topic", c.cfg.DLQTopic, "budget_bytes", lim.total, "err", err)
				continue
			}
		}
		wait := b.next()
		reason := "kafka unavailable for dead letters: "
		if AuthError(err) || !kafkaRetryable(err) {
			reason = "cannot write dead letters: "
		}
		c.health.set(condDeadLetters, reason+err.Error())
		c.log.Warn("write dead letters failed; retrying", "topic", c.cfg.DLQTopic, "attempt", b.attempt, "backoff", wait, "err", err)
		sleep(ctx, wait)
	}
	c.health.clear(condDeadLetters)
	for _, s := range src {
		c.dead.record(s)
	}
	return nil
}

func tooLarge(err error) bool {
	var mtl kafka.MessageTooLargeError
	return errors.Is(err, kafka.MessageSizeTooLarge) || errors.As(err, &mtl) || errors.Is(err, kafka.RecordListTooLarge)
}

// kafkaRetryable tells a broker error that may heal (leader moves, timeouts, network) from one that will not;
// errors that are not Kafka protocol errors are network trouble.
func kafkaRetryable(err error) bool {
	var kerr kafka.Error
	if errors.As(err, &kerr) {
		return kerr.Temporary()
	}
	return true
}

// limitedLog logs the first event at once and then at most one summary per period, so that neither a flood of
// dead letters nor a reconnecting kafka-go reader writes a line per event.
type limitedLog struct {
	log    *slog.Logger
	what   string
	period time.Duration

	mu         sync.Mutex
	last       time.Time
	suppressed int
}

func newLimitedLog(log *slog.Logger, what string, period time.Duration) *limitedLog {
	return &limitedLog{log: log, what: what, period: period}
}

// allow says whether to log now, and how many events were left out since the last line.
func (l *limitedLog) allow() (bool, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	if !l.last.IsZero() && now.Sub(l.last) < l.period {
		l.suppressed++
		return false, 0
	}
	n := l.suppressed
	l.last, l.suppressed = now, 0
	return true, n
}

func (l *limitedLog) printf(format string, args ...any) {
	if ok, n := l.allow(); ok {
		l.log.Warn(l.what+": "+fmt.Sprintf(format, args...), "similar_lines_suppressed", n)
	}
}

// record logs one dead letter, rate-limited (gpumeter_collector_records_dead_lettered_total counts them all).
func (l *limitedLog) record(s deadLetterSource) {
	if ok, n := l.allow(); ok {
		l.log.Warn("dead-lettered a record", "topic", s.msg.Topic, "partition", s.msg.Partition, "offset", s.msg.Offset,
			"key_bytes", len(s.msg.Key), "value_bytes", len(s.msg.Value), "err", s.reason, "others_since_last_line", n)
	}
}
