//go:build faults

package faults

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/segmentio/kafka-go"
)

// ---------------------------------------------------------------------------------------------------------------
// Kafka

// partitionEnd is a partition's offsets when it was read: first is the log start, last the high watermark.
type partitionEnd struct{ first, last int64 }

// readTopic returns every message on topic, partition by partition, up to the high watermark each partition had
// when its read began.
func readTopic(ctx context.Context, topic string) ([]kafka.Message, map[int]partitionEnd, error) {
	conn, err := kafka.DialContext(ctx, "tcp", kafkaAddr)
	if err != nil {
		return nil, nil, err
	}
	parts, err := conn.ReadPartitions(topic)
	_ = conn.Close()
	if err != nil {
		return nil, nil, fmt.Errorf("partitions of %s: %w", topic, err)
	}
	sort.Slice(parts, func(i, j int) bool { return parts[i].ID < parts[j].ID })
	var out []kafka.Message
	ends := map[int]partitionEnd{}
	for _, p := range parts {
		msgs, end, err := readPartition(ctx, topic, p.ID)
		if err != nil {
			return nil, nil, err
		}
		out = append(out, msgs...)
		ends[p.ID] = end
	}
	return out, ends, nil
}

func readPartition(ctx context.Context, topic string, partition int) ([]kafka.Message, partitionEnd, error) {
	leader, err := kafka.DialLeader(ctx, "tcp", kafkaAddr, topic, partition)
	if err != nil {
		return nil, partitionEnd{}, fmt.Errorf("leader of %s/%d: %w", topic, partition, err)
	}
	first, last, err := leader.ReadOffsets()
	_ = leader.Close()
	if err != nil {
		return nil, partitionEnd{}, fmt.Errorf("offsets of %s/%d: %w", topic, partition, err)
	}
	end := partitionEnd{first: first, last: last}
	if last <= first {
		return nil, end, nil
	}
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{kafkaAddr}, Topic: topic, Partition: partition,
		MinBytes: 1, MaxBytes: 32 << 20, MaxWait: 200 * time.Millisecond})
	defer r.Close()
	if err := r.SetOffset(first); err != nil {
		return nil, end, err
	}
	var out []kafka.Message
	for next := first; next < last; {
		rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		m, err := r.ReadMessage(rctx)
		cancel()
		if err != nil {
			return nil, end, fmt.Errorf("read %s/%d at offset %d (high watermark %d): %w", topic, partition, next, last, err)
		}
		if m.Offset >= last {
			break
		}
		out = append(out, m)
		next = m.Offset + 1
	}
	return out, end, nil
}

// committedOffsets returns the group's committed offset per partition of topic (-1: none).
func committedOffsets(ctx context.Context, group, topic string, partitions []int) (map[int]int64, error) {
	client := &kafka.Client{Addr: kafka.TCP(kafkaAddr), Timeout: 15 * time.Second, Transport: &kafka.Transport{}}
	resp, err := client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: partitions}})
	if err != nil {
		return nil, err
	}
	if resp.Error != nil {
		return nil, resp.Error
	}
	out := map[int]int64{}
	for _, p := range resp.Topics[topic] {
		if p.Error != nil {
			return nil, fmt.Errorf("partition %d: %w", p.Partition, p.Error)
		}
		out[p.Partition] = p.CommittedOffset
	}
	return out, nil
}

// produce writes raw messages to topic, each acknowledged by every in-sync replica. BatchBytes is raised so that
// kafka-go itself does not refuse the oversized one (the broker takes up to 10 MiB).
func produce(ctx context.Context, topic string, msgs ...kafka.Message) error {
	w := &kafka.Writer{Addr: kafka.TCP(kafkaAddr), Topic: topic, Balancer: &kafka.Hash{},
		RequiredAcks: kafka.RequireAll, BatchTimeout: 5 * time.Millisecond, BatchBytes: 8 << 20, MaxAttempts: 5,
		Transport: &kafka.Transport{}}
	defer w.Close()
	return w.WriteMessages(ctx, msgs...)
}

// topicPartitions waits until topic exists and returns its partition count.
func topicPartitions(ctx context.Context, topic string) (int, error) {
	var last error
	for ctx.Err() == nil {
		conn, err := kafka.DialContext(ctx, "tcp", kafkaAddr)
		if err == nil {
			var parts []kafka.Partition
			parts, err = conn.ReadPartitions(topic)
			_ = conn.Close()
			if err == nil && len(parts) > 0 {
				return len(parts), nil
			}
		}
		last = err
		time.Sleep(200 * time.Millisecond)
	}
	return 0, errors.Join(ctx.Err(), last)
}

// partitionOf is the partition kafka-go's Hash balancer (the agent's) gives key among n.
func partitionOf(key string, n int) int {
	ids := make([]int, n)
	for i := range ids {
		ids[i] = i
	}
	return (&kafka.Hash{}).Balance(kafka.Message{Key: []byte(key)}, ids...)
}

// ---------------------------------------------------------------------------------------------------------------
// ClickHouse

// chQuery runs fn on a fresh connection (ClickHouse is stopped and started under the tests' feet).
func chQuery(ctx context.Context, fn func(ctx context.Context, conn clickhouse.Conn) error) error {
	conn, err := clickhouse.Open(&clickhouse.Options{Addr: []string{clickhouseAddr}, DialTimeout: 5 * time.Second})
	if err != nil {
		return err
	}
	defer conn.Close()
	qctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	return fn(qctx, conn)
}

// storedCounts are the rows the gpu_usage view shows, the distinct identities among them, and the raw rows under it
// (redeliveries included, until merges collapse them).
func storedCounts(ctx context.Context, db string) (rows, distinct, raw uint64, err error) {
	err = chQuery(ctx, func(ctx context.Context, conn clickhouse.Conn) error {
		row := conn.QueryRow(ctx, fmt.Sprintf(`SELECT count(), uniqExact(node, gpu_uuid, namespace, pod, window_start)
			FROM %s.gpu_usage`, db))
		if err := row.Scan(&rows, &distinct); err != nil {
			return err
		}
		return conn.QueryRow(ctx, fmt.Sprintf(`SELECT count() FROM %s.usage_raw`, db)).Scan(&raw)
	})
	return rows, distinct, raw, err
}

// gpuUsage is what gpu_usage holds for one GPU.
type gpuUsage struct {
	node, provider, gpu string
	records             uint64
	seconds             float64
}

func storedPerGPU(ctx context.Context, db string) ([]gpuUsage, error) {
	var out []gpuUsage
	err := chQuery(ctx, func(ctx context.Context, conn clickhouse.Conn) error {
		rows, err := conn.Query(ctx, fmt.Sprintf(`SELECT node, provider, gpu_uuid, count(), sum(provisioned_seconds)
			FROM %s.gpu_usage GROUP BY node, provider, gpu_uuid ORDER BY node, gpu_uuid`, db))
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var u gpuUsage
			if err := rows.Scan(&u.node, &u.provider, &u.gpu, &u.records, &u.seconds); err != nil {
				return err
			}
			out = append(out, u)
		}
		return rows.Err()
	})
	return out, err
}
