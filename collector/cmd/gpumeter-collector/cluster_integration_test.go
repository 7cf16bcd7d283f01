//go:build integration

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/gpumeter/gpumeter/internal/testenv"
	"github.com/gpumeter/gpumeter/internal/teststore"
	"github.com/gpumeter/gpumeter/schema"
)

// The collector's commands with --clickhouse-cluster: migrate builds the schema on the local cluster, run stores
// records that Kafka delivers twice (a redelivery, as after a collector died before its commit) exactly once, and
// report reads the cluster's figures.
func TestCommandsOnACluster(t *testing.T) {
	addrs := strings.Join(teststore.ClusterAddrs(t), ",")
	db := teststore.ClusterDatabase(t)
	brokers := testenv.KafkaAddr(t)
	topic, dlq := testenv.Topic(t, 3), testenv.Topic(t, 1)
	chFlags := []string{"--clickhouse-addr=" + addrs, "--clickhouse-cluster=" + teststore.Cluster, "--clickhouse-database=" + db}
	if err := runMigrate(t.Context(), chFlags); err != nil {
		t.Fatal(err)
	}

	h := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	var msgs []kafka.Message
	nodes, gpus, minutes := 6, 2, 30
	for n := range nodes {
		for g := range gpus {
			for m := range minutes {
				start := h.Add(time.Duration(m) * time.Minute)
				r := schema.Record{Version: 1, Node: fmt.Sprintf("node-%d", n), Provider: "azure", Region: "eastus",
					InstanceType: "nd", GPUUUID: fmt.Sprintf("GPU-%d-%d", n, g), GPUModel: "H100", Team: "ml",
					IntervalStart: start, IntervalEnd: start.Add(time.Minute), WindowStart: start,
					WindowEnd: start.Add(time.Minute), ProvisionedSeconds: 60, AllocatedSeconds: 60, Samples: 6}
				b, err := schema.Encode(&r)
				if err != nil {
					t.Fatal(err)
				}
				msgs = append(msgs, kafka.Message{Key: []byte(r.Node), Value: b})
			}
		}
	}
	records := len(msgs)
	w := &kafka.Writer{Addr: kafka.TCP(brokers), Topic: topic, Balancer: &kafka.Hash{}, RequiredAcks: kafka.RequireAll,
		BatchTimeout: 10 * time.Millisecond, Transport: &kafka.Transport{}}
	defer w.Close()
	// Every record twice: the second copy is what a redelivery presents.
	if err := w.WriteMessages(t.Context(), append(append([]kafka.Message{}, msgs...), msgs...)...); err != nil {
		t.Fatal(err)
	}

	group := testenv.Name(t, "g")
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	var runErr error
	wg.Go(func() {
		runErr = runConsume(ctx, append([]string{"--kafka-brokers=" + brokers, "--topic=" + topic, "--dlq-topic=" + dlq,
			"--group=" + group, "--metrics-addr=", "--batch-size=100"}, chFlags...))
	})
	// Done when the group has committed every message, both copies: offsets are committed only after ClickHouse
	// acknowledged the batch and its rollups.
	client := &kafka.Client{Addr: kafka.TCP(brokers)}
	committed := int64(0)
	for deadline := time.Now().Add(2 * time.Minute); committed < int64(2*records) && time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		resp, err := client.OffsetFetch(t.Context(), &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: {0, 1, 2}}})
		if err != nil {
			continue // the group may not exist yet
		}
		committed = 0
		for _, p := range resp.Topics[topic] {
			committed += max(p.CommittedOffset, 0)
		}
	}
	cancel()
	wg.Wait()
	if runErr != nil {
		t.Fatal(runErr)
	}
	if committed != int64(2*records) {
		t.Fatalf("the collector committed %d of %d messages", committed, 2*records)
	}
	st := teststore.OpenCluster(t, db, teststore.ClusterAddrs(t)...)
	var stored uint64
	if err := st.Conn().QueryRow(t.Context(), "SELECT count() FROM "+db+".gpu_usage").Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if stored != uint64(records) {
		t.Errorf("gpu_usage holds %d records, want %d", stored, records)
	}

	out := filepath.Join(t.TempDir(), "report.json")
	at := h.Add(2 * time.Hour)
	if err := runReport(t.Context(), append([]string{"--at=" + at.Format(time.RFC3339), "--format=json", "--out=" + out,
		"--days=1"}, chFlags...)); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Daily []struct {
			Provider            string  `json:"provider"`
			ProvisionedGPUHours float64 `json:"provisioned_gpu_hours"`
		} `json:"daily"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	want := float64(records) / 60 // one minute each
	if len(doc.Daily) != 1 || doc.Daily[0].Provider != "azure" || math.Abs(doc.Daily[0].ProvisionedGPUHours-want) > 1e-9 {
		t.Errorf("report daily %+v, want azure %.3f GPU-hours", doc.Daily, want)
	}
}
