//go:build faults

package faults

import (
	"context"
	"errors"
	"time"

	"github.com/segmentio/kafka-go"
)

func init() {
	scenarios = append(scenarios, scenario{
		name: "topic-recreated", what: "the usage topic is deleted and recreated mid-run: the collector reads the new " +
			"topic from its start, and every record the agents measured is stored",
		duration: 4 * time.Hour, speed: 720, collectors: 1, topicRecreated: true,
		fault: func(r *run) {
			r.at(0.4)
			r.waitInserted(r.live[0])
			r.requireAgentsRunning("before deleting the topic")
			ctx, cancel := context.WithTimeout(r.t.Context(), 2*time.Minute)
			defer cancel()
			transport := &kafka.Transport{}
			defer transport.CloseIdleConnections()
			client := &kafka.Client{Addr: kafka.TCP(kafkaAddr), Transport: transport, Timeout: 30 * time.Second}
			resp, err := client.DeleteTopics(ctx, &kafka.DeleteTopicsRequest{Topics: []string{r.topic}})
			if err == nil {
				err = resp.Errors[r.topic]
			}
			if err != nil {
				r.t.Fatalf("delete topic %s: %v", r.topic, err)
			}
			r.res.note("topic deleted at %s", r.progress())
			// Recreate it as the collector would; the agents' sends may auto-create it first (4 partitions too).
			for {
				cr, err := client.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{
					{Topic: r.topic, NumPartitions: partitions, ReplicationFactor: 1}}})
				if err == nil {
					err = cr.Errors[r.topic]
				}
				if err == nil || errors.Is(err, kafka.TopicAlreadyExists) {
					break
				}
				if ctx.Err() != nil {
					r.t.Fatalf("recreate topic %s: %v", r.topic, err)
				}
				time.Sleep(200 * time.Millisecond)
			}
			r.res.note("topic recreated at %s", r.progress())
		},
		verify: func(r *run) {
			for _, c := range r.collectors {
				r.res.note("%s logged %d topic-reset lines and %d failed fetches it waited out", c.name,
					c.count("topic reset:"), c.count("fetch from kafka failed; waiting for it"))
			}
		},
	})
}
