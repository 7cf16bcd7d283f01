package alert

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"slices"
	"sync"
	"time"
)

// Notifier remembers what it fired, so that each evaluation fires what is active (re-posting keeps
// them alive) and resolves what stopped being active. Its state lives in memory: after a restart,
// alerts that were active before and are not any more expire in Alertmanager within 3×ttl.
type Notifier struct {
	c   *Client
	ttl time.Duration
	log *slog.Logger

	// Retries within one Update: at most maxAttempts requests, backoff doubling from minBackoff
	// up to maxBackoff (with jitter), and never past ctx or ttl.
	maxAttempts            int
	minBackoff, maxBackoff time.Duration

	mu        sync.Mutex
	firing    map[string]*entry // active at the last Update
	resolving map[string]*entry // stopped being active; Alertmanager has not acknowledged the resolve yet
}

// entry is one alert the Notifier knows.
type entry struct {
	alert    Alert
	labels   map[string]string // labelSet of alert
	startsAt time.Time         // when it became active (sent with every post, so it survives an Alertmanager restart)
	endsAt   time.Time         // the latest endsAt sent while firing: Alertmanager has expired it by then in any case
}

// NewNotifier makes a Notifier that posts through c. ttl is the evaluation interval: firing alerts
// are sent with endsAt = now + 3×ttl, and one Update never takes longer than ttl. log nil: c's logger.
func NewNotifier(c *Client, ttl time.Duration, log *slog.Logger) *Notifier {
	if log == nil {
		log = c.logger()
	}
	if ttl <= 0 {
		ttl = time.Minute
	}
	return &Notifier{c: c, ttl: ttl, log: log, maxAttempts: 5, minBackoff: 200 * time.Millisecond,
		maxBackoff: 5 * time.Second, firing: map[string]*entry{}, resolving: map[string]*entry{}}
}

// Update is called once per evaluation with the full set of currently active alerts (identity =
// Name + Labels; for duplicates the last one's annotations win). It posts the active ones
// (startsAt = when each became active, endsAt = now + 3×ttl) and resolves (endsAt = now) the ones
// that were active last time but are not now, in one request. now should be the wall-clock time:
// Alertmanager compares endsAt with its own clock.
//
// An unreachable Alertmanager is retried with backoff within ctx (and at most ttl), logged at warn,
// and reported in the returned error; the Notifier keeps its state so that the next Update posts
// the alerts active then and retries the resolves that failed (until Alertmanager would have expired
// them anyway). An alert with an invalid label name is left out, logged and reported in the error;
// the others are still sent. Updates are serialised.
func (n *Notifier) Update(ctx context.Context, active []Alert, now time.Time) error {
	n.mu.Lock()
	defer n.mu.Unlock()

	var errs []error
	until := now.Add(TTLFactor * n.ttl)
	cur := make(map[string]*entry, len(active))
	for _, a := range active {
		ls, err := a.labelSet()
		if err != nil {
			n.log.Warn("alert left out", "alert", a.Name, "err", err)
			errs = append(errs, err)
			continue
		}
		k := key(ls)
		e := &entry{alert: a, labels: ls, startsAt: now}
		if old := cur[k]; old != nil {
			e.startsAt, e.endsAt = old.startsAt, old.endsAt
		} else if old := n.firing[k]; old != nil {
			e.startsAt, e.endsAt = old.startsAt, old.endsAt
		}
		if until.After(e.endsAt) {
			e.endsAt = until
		}
		cur[k] = e
	}

	resolve := make(map[string]*entry)
	for _, m := range []map[string]*entry{n.resolving, n.firing} {
		for k, e := range m {
			if cur[k] != nil || !now.Before(e.endsAt) {
				continue // active again, or expired in Alertmanager already
			}
			resolve[k] = e
		}
	}

	body := make([]postable, 0, len(cur)+len(resolve))
	for _, k := range slices.Sorted(maps.Keys(cur)) {
		body = append(body, n.postable(cur[k], until))
	}
	for _, k := range slices.Sorted(maps.Keys(resolve)) {
		body = append(body, n.postable(resolve[k], now))
	}

	n.firing = cur
	if len(body) > 0 {
		if err := n.send(ctx, body, len(cur), len(resolve)); err != nil {
			n.resolving = resolve // retried next time
			errs = append(errs, err)
		} else {
			n.resolving = map[string]*entry{}
		}
	} else {
		n.resolving = map[string]*entry{}
	}
	return errors.Join(errs...)
}

func (n *Notifier) postable(e *entry, endsAt time.Time) postable {
	startsAt := e.startsAt
	if startsAt.After(endsAt) { // clock stepped back: Alertmanager rejects endsAt < startsAt
		startsAt = endsAt
	}
	return postable{Labels: e.labels, Annotations: e.alert.Annotations, StartsAt: startsAt.UTC(),
		EndsAt: endsAt.UTC(), GeneratorURL: n.c.GeneratorURL}
}

// send posts body, retrying with backoff while ctx, ttl and maxAttempts allow.
func (n *Notifier) send(ctx context.Context, body []postable, firing, resolving int) error {
	ctx, cancel := context.WithTimeout(ctx, n.ttl)
	defer cancel()
	backoff := n.minBackoff
	for attempt := 1; ; attempt++ {
		err := n.c.post(ctx, body)
		if err == nil {
			if attempt > 1 {
				n.log.Info("alertmanager reached", "alertmanagers", n.c.Targets(), "attempts", attempt, "firing", firing, "resolved", resolving)
			}
			return nil
		}
		if !permanent(err) && attempt < n.maxAttempts && sleep(ctx, &backoff, n.maxBackoff) {
			continue
		}
		n.log.Warn("alertmanager unreachable or refused the alerts", "alertmanagers", n.c.Targets(), "attempts", attempt,
			"firing", firing, "resolved", resolving, "err", err)
		return fmt.Errorf("alertmanager: %d attempts: %w", attempt, err)
	}
}

// sleep waits for a jittered *backoff (within [backoff/2, backoff]) and doubles it up to limit;
// false if ctx ended first.
func sleep(ctx context.Context, backoff *time.Duration, limit time.Duration) bool {
	if ctx.Err() != nil {
		return false
	}
	wait := *backoff/2 + rand.N(*backoff/2+1)
	*backoff = min(2**backoff, limit)
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
