package consume

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/gpumeter/gpumeter/internal/kafkaconf"
)

// EnsureTopics creates the topics that do not exist yet. A consumer group that joins before its topic exists does not
// notice the topic's partitions appear, and producers should not depend on broker-side auto-creation, so the
// collector makes both topics at start.
func EnsureTopics(ctx context.Context, conn kafkaconf.Conn, partitions, replication int, topics ...string) error {
	transport := conn.Transport()
	defer transport.CloseIdleConnections()
	client := &kafka.Client{Addr: kafka.TCP(conn.Brokers...), Transport: transport, Timeout: 30 * time.Second}
	// A metadata request first: it says why the cluster cannot be reached (a wrong SASL password reads as "SASL
	// Authentication Failed"), where CreateTopics only says "Broker Not Available".
	if _, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: topics}); err != nil {
		return fmt.Errorf("kafka %v: %w", conn.Brokers, err)
	}
	req := &kafka.CreateTopicsRequest{}
	for _, t := range topics {
		req.Topics = append(req.Topics, kafka.TopicConfig{Topic: t, NumPartitions: partitions, ReplicationFactor: replication})
	}
	resp, err := client.CreateTopics(ctx, req)
	if err != nil {
		return fmt.Errorf("create kafka topics %v: %w", topics, err)
	}
	var errs []error
	for topic, err := range resp.Errors {
		if err != nil && !errors.Is(err, kafka.TopicAlreadyExists) {
			errs = append(errs, fmt.Errorf("create kafka topic %s: %w", topic, err))
		}
	}
	return errors.Join(errs...)
}
