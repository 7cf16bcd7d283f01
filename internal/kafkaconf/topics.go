package kafkaconf

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
)

// CheckTopics asks the brokers whether every topic exists and may be described by this connection's principal,
// creating nothing (the metadata request does not allow auto-creation, whatever the broker's auto.create.topics): for a collector run with --create-topics=false where an ACL forbids CreateTopics. A missing or
// unauthorized topic is named in the error with what to do.
func (c Conn) CheckTopics(ctx context.Context, topics ...string) error {
	transport := c.Transport()
	defer transport.CloseIdleConnections()
	client := &kafka.Client{Addr: kafka.TCP(c.Brokers...), Transport: transport, Timeout: 15 * time.Second}
	md, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: topics})
	if err != nil {
		return fmt.Errorf("kafka metadata for %s: %w", strings.Join(topics, ", "), err)
	}
	found := map[string]error{}
	for _, t := range md.Topics {
		found[t.Name] = t.Error
	}
	var errs []error
	for _, name := range topics {
		err, ok := found[name]
		switch {
		case !ok || errors.Is(err, kafka.UnknownTopicOrPartition) || errors.Is(err, kafka.TopicAuthorizationFailed):
			// A broker with ACLs answers alike for a missing topic and one this principal may not describe.
			errs = append(errs, fmt.Errorf("topic %s does not exist, or this principal may not Describe it (--create-topics=false: create it and grant Describe, Read and Write on it)", name))
		case err != nil:
			errs = append(errs, fmt.Errorf("topic %s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}
