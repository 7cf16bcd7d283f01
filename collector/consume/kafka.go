package consume

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/segmentio/kafka-go"
)

// Fetcher is what the consumer needs of one consumer-group member; *kafka.Reader is the real one. After Close a new
// member is opened (a topic reset restarts the group's partitions that way).
type Fetcher interface {
	FetchMessage(ctx context.Context) (kafka.Message, error)
	CommitMessages(ctx context.Context, msgs ...kafka.Message) error
	Close() error
}

// Writer is the dead-letter topic; *kafka.Writer is the real one.
type Writer interface {
	WriteMessages(ctx context.Context, msgs ...kafka.Message) error
	Close() error
}

// PartitionOffsets is one partition as the broker sees it: the log's first offset and its end (the offset the next
// message gets), and the group's committed offset (-1: none yet).
type PartitionOffsets struct {
	Partition         int
	First, End        int64
	Committed         int64
	CommittedReadable bool // false when the broker answered for the log but not for the group's offset
}

// OffsetSource reads the topic's partitions for the group: the lag, stall and reset checks are built on it.
type OffsetSource interface {
	Offsets(ctx context.Context) ([]PartitionOffsets, error)
}

// newReader is the real Fetcher. Every kafka-go default the consumer relies on is set here (docs/design.md, kafka-go
// traps).
func newReader(cfg Config, log *slog.Logger) Fetcher {
	return kafka.NewReader(kafka.ReaderConfig{
		Brokers: cfg.Conn.Brokers,
		GroupID: cfg.Group,
		Topic:   cfg.Topic,
		Dialer:  cfg.Conn.Dialer(),
		// Commit only by hand, synchronously, after the insert: CommitInterval > 0 would turn commit errors into log
		// lines.
		CommitInterval: 0,
		StartOffset:    kafka.FirstOffset,
		// Partitions added to the topic later get consumers too.
		WatchPartitionChanges: true,
		// What keeps the fetch pipeline full: every assigned partition has a fetch of up to MaxBytes in flight, and
		// the consumer fills the next batch from the queue while the current one is written (fillAhead), so the
		// partitions' fetches never wait for an insert. With a backlog each fetch returns MaxBytes at once; caught
		// up, MinBytes 1 answers with the first record rather than holding it (sample-to-queryable latency), and
		// MaxWait bounds an idle long poll, so a quiet partition costs one request per MaxWait.
		MinBytes: cfg.FetchMinBytes,
		MaxWait:  cfg.FetchMaxWait,
		// Memory: each assigned partition holds at most one fetch of MaxBytes (a single larger message still comes
		// through), the queue QueueCapacity messages ahead of the batches, and the consumer two batches of at most
		// BatchBytes (one written, the next filled). kafka-go bounds its queue by count only, so the worst case is
		// (QueueCapacity + partitions) × the broker's largest message (message.max.bytes) + 2 × BatchBytes; keep
		// QueueCapacity small: the batch being filled, not the queue, is what runs ahead of the insert.
		MaxBytes:      cfg.FetchMaxBytes,
		QueueCapacity: cfg.QueueCapacity,
		// The reader reports a failure after MaxAttempts and then keeps trying by itself; the consumer waits it out
		// (Run never ends on a fetch error), so this only sets how soon readiness says Kafka is away.
		MaxAttempts:    3,
		ReadBackoffMin: 100 * time.Millisecond,
		ReadBackoffMax: time.Second,
		// Without it a committed offset beyond the end of a partition (a recreated topic) makes the reader wait,
		// silently, until the new topic has grown past it; with it the consumer hears of it and resets (resetTopic).
		OffsetOutOfRangeError: true,
		// A dead collector's partitions move to the others within seconds.
		SessionTimeout:    10 * time.Second,
		HeartbeatInterval: time.Second,
		RebalanceTimeout:  10 * time.Second,
		ReadLagInterval:   -1, // group readers do not report lag; the offsets watch does (see watch)
		ErrorLogger:       kafka.LoggerFunc(newLimitedLog(log, "kafka reader", 10*time.Second).printf),
	})
}

// deadLetterWriter closes the Transport it was given along with itself (kafka.Writer closes only one it made).
type deadLetterWriter struct {
	*kafka.Writer
	transport *kafka.Transport
}

func (w deadLetterWriter) Close() error {
	err := w.Writer.Close()
	w.transport.CloseIdleConnections()
	return err
}

func newDeadLetterWriter(cfg Config) Writer {
	t := cfg.Conn.Transport()
	return deadLetterWriter{transport: t, Writer: &kafka.Writer{
		Addr:         kafka.TCP(cfg.Conn.Brokers...),
		Topic:        cfg.DLQTopic,
		Balancer:     &kafka.Hash{},
		RequiredAcks: kafka.RequireAll,
		BatchTimeout: 10 * time.Millisecond,
		// A batch always holds at least one dead letter (deadLetterLimits caps each well below this) and stays below
		// the broker's default message.max.bytes (1 MiB).
		BatchBytes:  writerBatchBytes,
		MaxAttempts: 3, // the consumer retries on top, with its own backoff
		Transport:   t,
		// The dead-letter topic is ours to create: a fresh cluster should not lose its first poison message.
		AllowAutoTopicCreation: true,
	}}
}

const writerBatchBytes = 960 << 10

// kafkaOffsets reads offsets with a kafka.Client of its own (its own Transport: DefaultTransport caches metadata).
type kafkaOffsets struct {
	client       *kafka.Client
	topic, group string
}

func newKafkaOffsets(cfg Config) *kafkaOffsets {
	return &kafkaOffsets{
		client: &kafka.Client{Addr: kafka.TCP(cfg.Conn.Brokers...), Transport: cfg.Conn.Transport(), Timeout: 10 * time.Second},
		topic:  cfg.Topic, group: cfg.Group,
	}
}

// Close releases the client's connections.
func (k *kafkaOffsets) Close() error {
	if t, ok := k.client.Transport.(*kafka.Transport); ok {
		t.CloseIdleConnections()
	}
	return nil
}

// Offsets reads the group's committed offsets first, then the logs' ends: a commit can only follow the data, so
// read in this order a committed offset beyond its end means the partition was reset, never a race with the reader.
func (k *kafkaOffsets) Offsets(ctx context.Context) ([]PartitionOffsets, error) {
	meta, err := k.client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{k.topic}})
	if err != nil {
		return nil, fmt.Errorf("metadata of topic %s: %w", k.topic, err)
	}
	var parts []int
	for _, t := range meta.Topics {
		if t.Name != k.topic {
			continue
		}
		if t.Error != nil {
			return nil, fmt.Errorf("metadata of topic %s: %w", k.topic, t.Error)
		}
		for _, p := range t.Partitions {
			parts = append(parts, p.ID)
		}
	}
	if len(parts) == 0 {
		return nil, fmt.Errorf("topic %s has no partitions (missing?)", k.topic)
	}
	committed, err := k.client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: k.group, Topics: map[string][]int{k.topic: parts}})
	if err != nil {
		return nil, fmt.Errorf("committed offsets of group %s: %w", k.group, err)
	}
	if committed.Error != nil {
		return nil, fmt.Errorf("committed offsets of group %s: %w", k.group, committed.Error)
	}
	req := &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{}}
	for _, p := range parts {
		req.Topics[k.topic] = append(req.Topics[k.topic], kafka.FirstOffsetOf(p), kafka.LastOffsetOf(p))
	}
	ends, err := k.client.ListOffsets(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("offsets of topic %s: %w", k.topic, err)
	}
	byPart := map[int]*PartitionOffsets{}
	out := make([]PartitionOffsets, 0, len(parts))
	for _, p := range ends.Topics[k.topic] {
		if p.Error != nil {
			return nil, fmt.Errorf("offsets of %s/%d: %w", k.topic, p.Partition, p.Error)
		}
		out = append(out, PartitionOffsets{Partition: p.Partition, First: p.FirstOffset, End: p.LastOffset, Committed: -1})
	}
	for i := range out {
		byPart[out[i].Partition] = &out[i]
	}
	for _, c := range committed.Topics[k.topic] {
		if p, ok := byPart[c.Partition]; ok && c.Error == nil {
			p.Committed, p.CommittedReadable = c.CommittedOffset, true
		}
	}
	return out, nil
}

// AuthError tells a failure of credentials or permissions (an operator must act) from Kafka being away.
func AuthError(err error) bool {
	for _, e := range []kafka.Error{kafka.SASLAuthenticationFailed, kafka.IllegalSASLState, kafka.UnsupportedSASLMechanism,
		kafka.TopicAuthorizationFailed, kafka.GroupAuthorizationFailed, kafka.ClusterAuthorizationFailed} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// closedReader is the reader's way of saying it was closed: the end, not a failure to wait out.
func closedReader(err error) bool { return errors.Is(err, io.EOF) }
