//go:build integration

package kafkaconf_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/gpumeter/gpumeter/internal/kafkaconf"
)

// TestCheckTopicsUnderACLs is --create-topics=false against a broker whose ACLs forbid CreateTopics: bob may not
// create a topic; CheckTopics, which creates nothing, says clearly which topic is missing, then which one bob may
// not describe, and passes once the topics exist and bob has been granted them.
func TestCheckTopicsUnderACLs(t *testing.T) {
	b := kafkaBroker(t)
	ca := "--kafka-ca-file=" + b.PKI.CAFile
	bob := connect(t, []string{"--kafka-brokers=" + b.SASLAddr, "--kafka-tls", ca, "--kafka-sasl-mechanism=SCRAM-SHA-512",
		"--kafka-username=" + limitedUser, "--kafka-password=" + limitedPassword}, nil)
	admin := connect(t, []string{"--kafka-brokers=" + b.SSLAddr, "--kafka-tls", ca}, nil) // ANONYMOUS: a super user
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	topic, dlq := topicName(t), topicName(t)+".dlq"

	client := func(c interface{ Transport() *kafka.Transport }, addr string) *kafka.Client {
		return &kafka.Client{Addr: kafka.TCP(addr), Transport: c.Transport(), Timeout: 15 * time.Second}
	}
	resp, err := client(bob, b.SASLAddr).CreateTopics(ctx, &kafka.CreateTopicsRequest{
		Topics: []kafka.TopicConfig{{Topic: topic, NumPartitions: 1, ReplicationFactor: 1}}})
	if err == nil {
		err = resp.Errors[topic]
	}
	if !errors.Is(err, kafka.TopicAuthorizationFailed) && !errors.Is(err, kafka.ClusterAuthorizationFailed) {
		t.Fatalf("bob creating %s: %v, want an authorization failure", topic, err)
	}

	// Missing, whoever asks.
	if err := admin.CheckTopics(ctx, topic, dlq); err == nil || !strings.Contains(err.Error(), "topic "+topic+" does not exist") ||
		!strings.Contains(err.Error(), "--create-topics=false") {
		t.Fatalf("CheckTopics before the topics exist: %v", err)
	}
	resp, err = client(admin, b.SSLAddr).CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{
		{Topic: topic, NumPartitions: 1, ReplicationFactor: 1}, {Topic: dlq, NumPartitions: 1, ReplicationFactor: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	for name, err := range resp.Errors {
		if err != nil {
			t.Fatalf("create %s: %v", name, err)
		}
	}
	waitCheck(t, ctx, admin, topic, dlq)
	// Existing, but bob has no ACL on them yet.
	if err := bob.CheckTopics(ctx, topic, dlq); err == nil || !strings.Contains(err.Error(), "may not Describe it") {
		t.Fatalf("CheckTopics as bob without ACLs: %v", err)
	}
	var acls []kafka.ACLEntry
	for _, name := range []string{topic, dlq} {
		for _, op := range []kafka.ACLOperationType{kafka.ACLOperationTypeDescribe, kafka.ACLOperationTypeRead, kafka.ACLOperationTypeWrite} {
			acls = append(acls, kafka.ACLEntry{ResourceType: kafka.ResourceTypeTopic, ResourceName: name,
				ResourcePatternType: kafka.PatternTypeLiteral, Principal: "User:" + limitedUser, Host: "*",
				Operation: op, PermissionType: kafka.ACLPermissionTypeAllow})
		}
	}
	ares, err := client(admin, b.SSLAddr).CreateACLs(ctx, &kafka.CreateACLsRequest{ACLs: acls})
	if err != nil {
		t.Fatal(err)
	}
	for _, err := range ares.Errors {
		if err != nil {
			t.Fatalf("create ACL: %v", err)
		}
	}
	// ACLs reach the authorizer through the metadata log: wait for them.
	waitCheck(t, ctx, bob, topic, dlq)
}

// waitCheck waits until CheckTopics passes on c (topics and ACLs propagate through the metadata log).
func waitCheck(t *testing.T, ctx context.Context, c kafkaconf.Conn, topics ...string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		err := c.CheckTopics(ctx, topics...)
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("CheckTopics: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
