// Package testenv connects tests to the real Kafka broker and ClickHouse server that `make test` starts
// (deploy/local/services.sh). A missing service fails the test: it never skips.
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/segmentio/kafka-go"
)

const hint = "start the services with `deploy/local/services.sh start` (make test does it for you)"

// KafkaAddr is the broker's address: GPUMETER_TEST_KAFKA, or the local stack's default.
func KafkaAddr(t testing.TB) string {
	t.Helper()
	return reachable(t, "GPUMETER_TEST_KAFKA", "127.0.0.1:19092", "Kafka")
}

// ClickHouseAddr is the server's native-protocol address: GPUMETER_TEST_CLICKHOUSE, or the local stack's default.
func ClickHouseAddr(t testing.TB) string {
	t.Helper()
	return reachable(t, "GPUMETER_TEST_CLICKHOUSE", "127.0.0.1:19000", "ClickHouse")
}

// ClickHouseHTTPAddr is the server's HTTP interface: GPUMETER_TEST_CLICKHOUSE_HTTP, or the local stack's default.
func ClickHouseHTTPAddr(t testing.TB) string {
	t.Helper()
	return reachable(t, "GPUMETER_TEST_CLICKHOUSE_HTTP", "127.0.0.1:18123", "ClickHouse's HTTP interface")
}

func reachable(t testing.TB, env, def, what string) string {
	t.Helper()
	addr := os.Getenv(env)
	if addr == "" {
		addr = def
	}
	dial(t, env, addr, what)
	return addr
}

func dial(t testing.TB, env, addr, what string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 3*time.Second)
	if err != nil {
		t.Fatalf("%s is not reachable at %s (%s=%q): %v; %s", what, addr, env, os.Getenv(env), err, hint)
	}
	_ = c.Close()
}

// Name makes a unique, identifier-safe name for a test's topic or database.
func Name(t testing.TB, prefix string) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	clean := regexp.MustCompile(`[^a-z0-9]+`).ReplaceAllString(strings.ToLower(t.Name()), "_")
	if len(clean) > 40 {
		clean = clean[:40]
	}
	return prefix + "_" + strings.Trim(clean, "_") + "_" + hex.EncodeToString(b)
}

// Topic creates a topic with the given partitions on the test broker and deletes it when the test ends.
func Topic(t testing.TB, partitions int) string {
	t.Helper()
	broker := KafkaAddr(t)
	topic := strings.ReplaceAll(Name(t, "gpumeter_test"), "_", ".")
	if err := createTopic(broker, topic, partitions); err != nil {
		t.Fatalf("create topic %s: %v", topic, err)
	}
	t.Cleanup(func() {
		if err := deleteTopic(broker, topic); err != nil {
			t.Logf("delete topic %s: %v", topic, err)
		}
	})
	return topic
}

func controller(broker string) (*kafka.Conn, error) {
	conn, err := kafka.Dial("tcp", broker)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	c, err := conn.Controller()
	if err != nil {
		return nil, err
	}
	return kafka.Dial("tcp", net.JoinHostPort(c.Host, strconv.Itoa(c.Port)))
}

func createTopic(broker, topic string, partitions int) error {
	c, err := controller(broker)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.CreateTopics(kafka.TopicConfig{Topic: topic, NumPartitions: partitions, ReplicationFactor: 1}); err != nil {
		return err
	}
	// Metadata propagates asynchronously; wait until the broker serves every partition.
	deadline := time.Now().Add(15 * time.Second)
	for {
		parts, err := c.ReadPartitions(topic)
		if err == nil && len(parts) == partitions {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("topic %s not ready: %d partitions, %v", topic, len(parts), err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func deleteTopic(broker, topic string) error {
	c, err := controller(broker)
	if err != nil {
		return err
	}
	defer c.Close()
	return c.DeleteTopics(topic)
}

// Database names a fresh ClickHouse database for the test (created by whoever migrates it) and drops it at the end.
func Database(t testing.TB) string {
	t.Helper()
	addr := ClickHouseAddr(t)
	db := Name(t, "gpumeter_test")
	t.Cleanup(func() {
		conn, err := clickhouse.Open(&clickhouse.Options{Addr: []string{addr}})
		if err != nil {
			t.Logf("drop database %s: %v", db, err)
			return
		}
		defer conn.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+db); err != nil {
			t.Logf("drop database %s: %v", db, err)
		}
	})
	return db
}

// Logger logs through t.Log, so output shows up next to the test that caused it.
func Logger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// AlertmanagerURL is the test Alertmanager's base URL: GPUMETER_TEST_ALERTMANAGER, or the local stack's default.
func AlertmanagerURL(t testing.TB) string {
	t.Helper()
	url := os.Getenv("GPUMETER_TEST_ALERTMANAGER")
	if url == "" {
		url = "http://127.0.0.1:19094"
	}
	dial(t, "GPUMETER_TEST_ALERTMANAGER", strings.TrimPrefix(strings.TrimPrefix(url, "http://"), "https://"), "Alertmanager")
	return url
}
