package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/gpumeter/gpumeter/agent/send"
	"github.com/gpumeter/gpumeter/agent/spool"
	"github.com/gpumeter/gpumeter/collector/consume"
	"github.com/gpumeter/gpumeter/internal/fleet"
	"github.com/gpumeter/gpumeter/schema"
)

// topic creates a fresh topic (and its dead-letter topic) with the configured partitions, deleted at the end.
func (b *bench) topic(ctx context.Context) (string, error) {
	t := b.name("topic")
	b.topics = append(b.topics, t, t+"_dlq")
	if err := consume.EnsureTopics(ctx, b.kconn, b.o.partitions, 1, t, t+"_dlq"); err != nil {
		return "", err
	}
	// Metadata propagates asynchronously; wait until every partition has a leader.
	deadline := time.Now().Add(30 * time.Second)
	for {
		md, err := b.kafka.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{t}})
		if err == nil && len(md.Topics) == 1 && md.Topics[0].Error == nil && len(md.Topics[0].Partitions) == b.o.partitions {
			return t, nil
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("topic %s not ready after 30s: %v", t, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// producer is the agent's own Kafka sender (key = node, LZ4, acks from all replicas).
func (b *bench) producer(topic string) *send.Kafka {
	return send.NewKafka(send.KafkaConfig{Conn: b.kconn, Topic: topic}, slog.New(slog.DiscardHandler))
}

// preload writes every record of the fleet to topic, encoded by the real codec, in the order agents send them, and
// returns how many records and bytes it wrote.
func (b *bench) preload(ctx context.Context, topic string, f *fleet.Fleet) (n int, bytes int64, err error) {
	p := b.producer(topic)
	defer func() { _ = p.Close() }()
	const chunk = 20000
	msgs := make([]spool.Entry, 0, chunk)
	flush := func() error {
		if err := p.Send(ctx, msgs); err != nil {
			return err
		}
		msgs = msgs[:0]
		return nil
	}
	start := time.Now()
	for r := range f.All() {
		v, err := schema.Encode(r)
		if err != nil {
			return n, bytes, err
		}
		msgs = append(msgs, spool.Entry{Key: r.Key(), Value: v})
		n++
		bytes += int64(len(v))
		if len(msgs) == chunk {
			if err := flush(); err != nil {
				return n, bytes, err
			}
		}
	}
	if err := flush(); err != nil {
		return n, bytes, err
	}
	b.log.Info("preloaded", "topic", topic, "records", n, "bytes", bytes, "took", time.Since(start).Round(time.Millisecond))
	return n, bytes, nil
}

// endOffsets are the topic's high watermarks per partition.
func (b *bench) endOffsets(ctx context.Context, topic string) (map[int]int64, error) {
	req := &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{}}
	for p := range b.o.partitions {
		req.Topics[topic] = append(req.Topics[topic], kafka.LastOffsetOf(p))
	}
	resp, err := b.kafka.ListOffsets(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("list offsets of %s: %w", topic, err)
	}
	out := map[int]int64{}
	for _, po := range resp.Topics[topic] {
		if po.Error != nil {
			return nil, fmt.Errorf("list offsets of %s/%d: %w", topic, po.Partition, po.Error)
		}
		out[po.Partition] = po.LastOffset
	}
	return out, nil
}

// committedAll says whether group has committed every partition of topic up to end.
func (b *bench) committedAll(ctx context.Context, group, topic string, end map[int]int64) (bool, error) {
	parts := make([]int, 0, len(end))
	for p := range end {
		parts = append(parts, p)
	}
	resp, err := b.kafka.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: parts}})
	if err != nil {
		return false, fmt.Errorf("fetch offsets of group %s: %w", group, err)
	}
	if resp.Error != nil {
		return false, fmt.Errorf("fetch offsets of group %s: %w", group, resp.Error)
	}
	got := map[int]int64{}
	for _, po := range resp.Topics[topic] {
		got[po.Partition] = po.CommittedOffset
	}
	for p, e := range end {
		if e > 0 && got[p] < e {
			return false, nil
		}
	}
	return true, nil
}

// groupStable says whether the group has members with partitions assigned: from then on the collector fetches.
func (b *bench) groupStable(ctx context.Context, group string) bool {
	resp, err := b.kafka.DescribeGroups(ctx, &kafka.DescribeGroupsRequest{GroupIDs: []string{group}})
	if err != nil || len(resp.Groups) != 1 {
		return false
	}
	g := resp.Groups[0]
	if g.Error != nil || g.GroupState != "Stable" {
		return false
	}
	for _, m := range g.Members {
		for _, t := range m.MemberAssignments.Topics {
			if len(t.Partitions) > 0 {
				return true
			}
		}
	}
	return false
}
