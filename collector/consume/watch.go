package consume

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"
)

// watchState is what the offsets watch found: the group's lag, stalled partitions, and whether a reset is due.
type watchState struct {
	lag         atomic.Int64 // records behind the partitions' ends, over the whole group; -1 until first read
	stalled     atomic.Int64 // partitions with lag and no commit for StallAfter
	resetWanted atomic.Bool  // a committed offset lies beyond its partition's end

	mu       sync.Mutex
	progress map[int]progress // per partition
}

type progress struct {
	committed int64
	since     time.Time // when committed last moved, or the lag was last zero
}

// committed notes this member's own commit, so a stall is not reported before the broker's answer catches up.
func (w *watchState) committed(batch []kafka.Message, now time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.progress == nil {
		w.progress = map[int]progress{}
	}
	for _, m := range lastPerPartition(batch) {
		w.progress[m.Partition] = progress{committed: m.Offset + 1, since: now}
	}
}

// watchLoop reads the group's offsets every WatchInterval until ctx ends.
func (c *Consumer) watchLoop(ctx context.Context) {
	t := time.NewTicker(c.cfg.WatchInterval)
	defer t.Stop()
	for {
		c.checkOffsets(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// checkOffsets reads the offsets once and updates lag, stalls and resets. The lag is the group's (every member
// reports the same figure: alert on the max), from the broker's committed offsets, so it stays true while this
// member is stuck.
func (c *Consumer) checkOffsets(ctx context.Context) {
	rctx, cancel := context.WithTimeout(ctx, c.cfg.WatchInterval)
	parts, err := c.deps.Offsets.Offsets(rctx)
	cancel()
	if err != nil {
		if ctx.Err() == nil {
			c.health.set(condOffsets, "cannot read offsets from kafka: "+err.Error())
		}
		return
	}
	c.health.clear(condOffsets)
	now := c.now()
	var lag, stalled int64
	var stuck []string
	w := &c.watch
	w.mu.Lock()
	if w.progress == nil {
		w.progress = map[int]progress{}
	}
	for _, p := range parts {
		if !p.CommittedReadable {
			continue
		}
		if p.Committed > p.End {
			if !w.resetWanted.Load() {
				c.log.Error("topic reset: the group's committed offset is beyond the end of the partition",
					"topic", c.cfg.Topic, "partition", p.Partition, "committed", p.Committed, "end", p.End)
			}
			w.resetWanted.Store(true)
			continue
		}
		from := p.Committed
		if from < p.First { // nothing committed yet, or retention deleted what was
			from = p.First
		}
		l := p.End - from
		lag += l
		prev, seen := w.progress[p.Partition]
		if !seen || l == 0 || p.Committed > prev.committed {
			prev = progress{committed: max(p.Committed, prev.committed), since: now}
			w.progress[p.Partition] = prev
		}
		if l > 0 && now.Sub(prev.since) >= c.cfg.StallAfter {
			stalled++
			stuck = append(stuck, fmt.Sprintf("%d (lag %d, no commit for %s)", p.Partition, l, now.Sub(prev.since).Round(time.Second)))
		}
	}
	w.mu.Unlock()
	w.lag.Store(lag)
	w.stalled.Store(stalled)
	if stalled > 0 {
		reason := fmt.Sprintf("stalled: partitions of %s behind with nothing committed for %s or more: %s", c.cfg.Topic,
			c.cfg.StallAfter, strings.Join(stuck, ", "))
		if !c.health.has(condStalled) {
			c.log.Error("consumer group stalled", "topic", c.cfg.Topic, "group", c.cfg.Group, "partitions", strings.Join(stuck, ", "))
		}
		c.health.set(condStalled, reason)
	} else {
		c.health.clear(condStalled)
	}
}

// Lag is the group's lag on the topic at the last check (-1 before the first).
func (c *Consumer) Lag() int64 { return c.watch.lag.Load() }

// resetTopic handles a topic deleted and recreated (or truncated): the partitions whose committed offset lies
// beyond their end are committed back to their first offset, and a new group member reads them from there. Run's
// goroutine calls it.
func (c *Consumer) resetTopic(ctx context.Context) {
	rctx, cancel := context.WithTimeout(ctx, c.cfg.CommitTimeout)
	defer cancel()
	parts, err := c.deps.Offsets.Offsets(rctx)
	if err != nil {
		c.log.Warn("topic reset check: cannot read offsets; trying again later", "err", err)
		c.watch.resetWanted.Store(true)
		return
	}
	var commits []kafka.Message
	for _, p := range parts {
		if p.CommittedReadable && p.Committed > p.End {
			c.log.Error("topic reset: the partition holds fewer messages than the group has consumed (the topic was "+
				"deleted and recreated, or truncated); reading it again from its start",
				"topic", c.cfg.Topic, "partition", p.Partition, "committed", p.Committed, "end", p.End, "start", p.First)
			// CommitMessages commits the offset after the message's: this commits p.First.
			commits = append(commits, kafka.Message{Topic: c.cfg.Topic, Partition: p.Partition, Offset: p.First - 1})
		}
	}
	if len(commits) > 0 {
		if err := c.fetcher.CommitMessages(rctx, commits...); err != nil {
			c.log.Warn("topic reset: committing the partitions' start failed; trying again later", "err", err)
			c.watch.resetWanted.Store(true)
			return
		}
		c.Stats.TopicResets.Add(int64(len(commits)))
		c.watch.mu.Lock()
		for _, m := range commits {
			delete(c.watch.progress, m.Partition)
		}
		c.watch.mu.Unlock()
	}
	// A partition reader that met the out-of-range offset has stopped: a new member restarts every partition from
	// the group's committed offsets.
	c.reopen()
}
