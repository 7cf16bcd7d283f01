package commitment

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// SyncRequests makes db's rofr_requests table (migration 0011) hold prim and reqs as its newest load. When the newest
// load already is exactly this set it writes nothing; otherwise it writes one load in one INSERT, with a deterministic
// version as Sync does, so identical concurrent loads collapse. A zero Primary (a file without primary) is a load too:
// it clears the requests a previous file declared.
func SyncRequests(ctx context.Context, conn driver.Conn, db string, prim Primary, reqs []Request) error {
	for i, r := range reqs {
		if r.ID == "" {
			return fmt.Errorf("commitments: requests[%d] has no id", i)
		}
		if !inDateTime(r.AskedAt) || !inDateTime(r.AnsweredAt) || !inDateTime(r.Start) || !inDateTime(r.End) {
			return fmt.Errorf("commitments: request %s: a time is outside ClickHouse DateTime", r.ID)
		}
	}
	sum := requestsHash(prim, reqs)
	hash := hex.EncodeToString(sum[:])
	q, err := query("rofr_latest_load", map[string]string{"DB": db})
	if err != nil {
		return err
	}
	var (
		top  uint64
		last string
	)
	if err := conn.QueryRow(ctx, q).Scan(&top, &last); err != nil {
		return fmt.Errorf("commitments: read the latest load in %s.rofr_requests: %w", db, err)
	}
	if top > 0 && last == hash {
		return nil
	}
	version := (top>>32+1)<<32 | uint64(binary.BigEndian.Uint32(sum[:4]))
	if q, err = query("insert_rofr_requests", map[string]string{"DB": db}); err != nil {
		return err
	}
	batch, err := conn.PrepareBatch(ctx, q)
	if err != nil {
		return fmt.Errorf("commitments: prepare insert into %s.rofr_requests: %w", db, err)
	}
	defer func() { _ = batch.Abort() }()
	commitments := prim.Commitments
	if commitments == nil {
		commitments = []string{}
	}
	var noAnswer uint8
	if prim.NoAnswerIsRefusal {
		noAnswer = 1
	}
	zero := time.Unix(0, 0).UTC()
	row := func(id string, pos int, r Request, rel Release) error {
		asked, answered, start, end, from := r.AskedAt, r.AnsweredAt, r.Start, r.End, r.ReleasedFrom()
		if id == "" {
			asked, answered, start, end, from = zero, zero, zero, zero, zero
		}
		return batch.Append(version, hash, prim.Provider, commitments, noAnswer, prim.MaxUncoveredGPUHours24h,
			id, uint16(pos), asked.UTC(), uint32(r.GPUs), r.GPUModel, r.InstanceType, r.Region, start.UTC(), end.UTC(),
			r.Status, answered.UTC(), uint32(r.AcceptedGPUs), from.UTC(), rel.Provider, uint32(rel.GPUs))
	}
	if err := row("", 0, Request{}, Release{}); err != nil {
		return fmt.Errorf("commitments: primary row: %w", err)
	}
	for _, r := range reqs {
		rels := r.Releases
		if len(rels) == 0 {
			rels = []Release{{}}
		}
		for j, rel := range rels {
			if err := row(r.ID, j, r, rel); err != nil {
				return fmt.Errorf("commitments: request %s: %w", r.ID, err)
			}
		}
	}
	if err := batch.Send(); err != nil {
		return fmt.Errorf("commitments: insert %d requests into %s.rofr_requests: %w", len(reqs), db, err)
	}
	return nil
}

// CurrentPrimary reads the live primary back from db; ok is false when the live load declares none.
func CurrentPrimary(ctx context.Context, conn driver.Conn, db string) (prim Primary, ok bool, err error) {
	q, err := query("rofr_primary", map[string]string{"DB": db})
	if err != nil {
		return prim, false, err
	}
	rows, err := conn.Query(ctx, q)
	if err != nil {
		return prim, false, fmt.Errorf("commitments: read %s.rofr_primary_current: %w", db, err)
	}
	defer rows.Close()
	for rows.Next() {
		var noAnswer uint8
		if err := rows.Scan(&prim.Provider, &prim.Commitments, &noAnswer, &prim.MaxUncoveredGPUHours24h); err != nil {
			return prim, false, fmt.Errorf("commitments: read %s.rofr_primary_current: %w", db, err)
		}
		prim.NoAnswerIsRefusal = noAnswer == 1
		ok = prim.Provider != ""
	}
	if err := rows.Err(); err != nil {
		return prim, false, fmt.Errorf("commitments: read %s.rofr_primary_current: %w", db, err)
	}
	return prim, ok, nil
}

// requestsHash is the SHA-256 of the primary and the requests in canonical form (requests sorted by id, times as Unix
// seconds).
func requestsHash(prim Primary, reqs []Request) [sha256.Size]byte {
	type canon struct {
		Request
		AskedAt, AnsweredAt, Start, End int64
	}
	list := make([]canon, len(reqs))
	for i, r := range reqs {
		list[i] = canon{r, r.AskedAt.Unix(), r.AnsweredAt.Unix(), r.Start.Unix(), r.End.Unix()}
		list[i].Request.AskedAt, list[i].Request.AnsweredAt, list[i].Request.Start, list[i].Request.End = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	}
	slices.SortFunc(list, func(a, b canon) int { return strings.Compare(a.ID, b.ID) })
	data, err := json.Marshal(struct {
		Primary  Primary
		Requests []canon
	}{prim, list})
	if err != nil {
		data = fmt.Appendf(nil, "%#v %#v", prim, list)
	}
	return sha256.Sum256(append([]byte("gpumeter rofr v1\n"), data...))
}
