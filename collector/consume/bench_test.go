package consume

import (
	"context"
	"testing"
	"time"

	"github.com/gpumeter/gpumeter/collector/consume/consumetest"
	"github.com/gpumeter/gpumeter/internal/testenv"
)

// BenchmarkConsume runs b.N records through the consumer on fakes (no Kafka, no ClickHouse): fetch, decode, batch,
// insert into a Sink, commit. It measures what the consumer itself costs per record; report allocations
// (-benchmem) or a CPU profile, not its wall time.
func BenchmarkConsume(b *testing.B) {
	k := newFakeKafka(4)
	msgs := goodMessagesB(b, 4096)
	for i := 0; i < b.N; i += len(msgs) {
		n := min(len(msgs), b.N-i)
		k.produce(i/len(msgs)%4, msgs[:n]...)
	}
	sink := &consumetest.Sink{}
	c := New(Config{Topic: "usage", Group: "g", DLQTopic: "dlq", BatchSize: 5000, BatchWait: time.Second,
		WatchInterval: time.Minute}, Deps{Store: sink, Open: k.open, DeadLetters: k, Offsets: k}, testenv.Logger(b))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	b.ReportAllocs()
	b.ResetTimer()
	go func() { done <- c.Run(ctx) }()
	for c.Stats.Inserted.Load() < int64(b.N) {
		time.Sleep(time.Millisecond)
	}
	b.StopTimer()
	cancel()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
}
