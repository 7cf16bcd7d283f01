//go:build faults

package faults

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/gpumeter/gpumeter/collector/consume"
)

func init() {
	scenarios = append(scenarios, scenario{
		name: "poison-2mb-key", what: "a message with a 2 MB key and an invalid value is produced onto every partition " +
			"in front of the agents' records: each is dead-lettered within the dead-letter topic's limits and nothing " +
			"behind it waits",
		duration: 4 * time.Hour, speed: 720, collectors: 1,
		fault: func(r *run) {
			r.at(0.3)
			r.requireAgentsRunning("before producing poison")
			msgs := hugeKeyPoison()
			ctx, cancel := context.WithTimeout(r.t.Context(), time.Minute)
			defer cancel()
			if err := produce(ctx, r.topic, msgs...); err != nil {
				r.t.Fatalf("produce poison: %v", err)
			}
			r.res.note("%d poison messages with %d-byte keys produced at %s, one per partition", len(msgs), len(msgs[0].Key), r.progress())
		},
		verify: func(r *run) {
			if want := partitions; r.res.deadLettered != want {
				r.t.Errorf("%d messages dead-lettered, want the %d poison messages", r.res.deadLettered, want)
			}
			ctx, cancel := context.WithTimeout(r.t.Context(), time.Minute)
			defer cancel()
			dead, _, err := readTopic(ctx, r.dlq)
			if err != nil {
				r.t.Fatalf("read dead letters: %v", err)
			}
			for _, m := range dead {
				h := map[string]string{}
				for _, kv := range m.Headers {
					h[kv.Key] = string(kv.Value)
				}
				size := len(m.Key) + len(m.Value)
				for _, kv := range m.Headers {
					size += len(kv.Key) + len(kv.Value)
				}
				if h[consume.HeaderKeyTruncated] != strconv.Itoa(2<<20+1) || size > 1<<20 {
					r.t.Errorf("dead letter for %s/%s: %d bytes, key-truncated header %q; want under 1 MiB with the original key size",
						h[consume.HeaderPartition], h[consume.HeaderOffset], size, h[consume.HeaderKeyTruncated])
				}
			}
			if len(dead) > 0 {
				r.res.note("dead letters are %d bytes (key %d of %s bytes)", len(dead[0].Key)+len(dead[0].Value), len(dead[0].Key),
					headerOf(dead[0], consume.HeaderKeyTruncated))
			}
		},
	})
}

// hugeKeyPoison is one message per partition with a 2 MB (+1 byte) key and a value that is no record.
func hugeKeyPoison() []kafka.Message {
	base := bytes.Repeat([]byte("k"), 2<<20)
	out := make([]kafka.Message, partitions)
	found := 0
	for i := 0; found < partitions; i++ {
		key := append(append([]byte(nil), base...), byte('a'+i%26))
		key[0] = byte('A' + i/26)
		p := partitionOf(string(key), partitions)
		if out[p].Key != nil {
			continue
		}
		out[p] = kafka.Message{Key: key, Value: []byte(fmt.Sprintf(`{"v":1,"node":"poison-%d"`, p))} // truncated JSON
		found++
	}
	return out
}

func headerOf(m kafka.Message, key string) string {
	for _, h := range m.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}
