package commitment

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	chschema "github.com/gpumeter/gpumeter/schema/clickhouse"
)

// query renders one of the statements of schema/clickhouse/queries.
func query(name string, data map[string]string) (string, error) {
	q, err := chschema.Query(name, data)
	if err != nil {
		return "", fmt.Errorf("commitments: %w", err)
	}
	return q, nil
}

// Sync makes db's commitments tables (migration 0003) say exactly what cs says: every commitment in cs is written,
// and every id the table holds live but cs lacks is marked deleted. When the table already holds exactly cs it
// writes nothing, so running it at every start, or on a timer, adds no rows.
//
// A load is one INSERT into commitments (the rate cards go first, into commitment_rates), so a reader sees the old
// set or the new one, never a mix. Two collectors syncing the same commitments at once write identical rows with the
// same version, which collapse. Two collectors syncing different files at once (a rolling change) can leave a union
// of both until either syncs again; every replica reads the same thing meanwhile, since versions are deterministic.
func Sync(ctx context.Context, conn driver.Conn, db string, cs []Commitment) error {
	return SyncFile(ctx, conn, db, File{Commitments: cs})
}

// SyncFile is Sync for a whole file: its commitments and, with them in the same load, its prices (the on-demand
// price cards and the commitments' own prices, table price_cards of migration 0010). The prices are part of the
// load: a file with prices but no commitment stores none (money figures are per commitment). The primary and the
// capacity requests are stored beside them (SyncRequests).
func SyncFile(ctx context.Context, conn driver.Conn, db string, f File) error {
	if err := syncCommitments(ctx, conn, db, f); err != nil {
		return err
	}
	if err := SyncRequests(ctx, conn, db, f.Primary, f.Requests); err != nil {
		return fmt.Errorf("load the capacity requests: %w", err)
	}
	return nil
}

// syncCommitments stores the file's commitments and prices as one load (a new version only when they changed).
func syncCommitments(ctx context.Context, conn driver.Conn, db string, f File) error {
	cs := f.Commitments
	if err := checkSet(cs); err != nil {
		return err
	}
	sum := setHash(cs, f.Prices)
	hash := hex.EncodeToString(sum[:])
	live, err := readLive(ctx, conn, db)
	if err != nil {
		return err
	}
	if upToDate(live, len(cs), hash) {
		return nil
	}
	q, err := query("commitments_latest_version", map[string]string{"DB": db})
	if err != nil {
		return err
	}
	var top uint64
	if err := conn.QueryRow(ctx, q).Scan(&top); err != nil {
		return fmt.Errorf("commitments: read the latest version in %s.commitments: %w", db, err)
	}
	generation := top>>32 + 1
	version := generation<<32 | uint64(binary.BigEndian.Uint32(sum[:4]))

	inFile := make(map[string]bool, len(cs))
	for _, c := range cs {
		inFile[c.ID] = true
	}
	var gone []Commitment
	for _, l := range live {
		if !inFile[l.ID] {
			gone = append(gone, l.Commitment)
		}
	}
	if err := writePrices(ctx, conn, db, f, version); err != nil {
		return err
	}
	return write(ctx, conn, db, cs, gone, hash, version)
}

// writePrices stores the load's prices before its commitments, as the rate cards are.
func writePrices(ctx context.Context, conn driver.Conn, db string, f File, version uint64) error {
	n := len(f.Prices)
	for _, c := range f.Commitments {
		if c.CommittedPrice > 0 {
			n++
		}
	}
	if n == 0 || len(f.Commitments) == 0 {
		return nil
	}
	q, err := query("insert_price_cards", map[string]string{"DB": db})
	if err != nil {
		return err
	}
	batch, err := conn.PrepareBatch(ctx, q)
	if err != nil {
		return fmt.Errorf("commitments: prepare insert into %s.price_cards: %w", db, err)
	}
	defer func() { _ = batch.Abort() }()
	for j, p := range f.Prices {
		if err := batch.Append("", version, uint16(j), p.Provider, p.InstanceType, p.GPUModel, p.PricePerGPUHour, p.Currency); err != nil {
			return fmt.Errorf("commitments: prices[%d]: %w", j, err)
		}
	}
	for _, c := range f.Commitments {
		if c.CommittedPrice <= 0 {
			continue
		}
		if err := batch.Append(c.ID, version, uint16(0), c.Provider, "", "", c.CommittedPrice, c.PriceCurrency); err != nil {
			return fmt.Errorf("commitments: price of %s: %w", c.ID, err)
		}
	}
	if err := batch.Send(); err != nil {
		return fmt.Errorf("commitments: insert %d prices into %s.price_cards: %w", n, db, err)
	}
	return nil
}

// CurrentPrices reads the on-demand price cards of the live load(s) back from db, in the file's order.
func CurrentPrices(ctx context.Context, conn driver.Conn, db string) (PriceCards, error) {
	live, err := readLive(ctx, conn, db)
	if err != nil {
		return nil, err
	}
	versions := liveVersions(live)
	if len(versions) == 0 {
		return nil, nil
	}
	var out PriceCards
	err = readPrices(ctx, conn, db, versions, func(id string, _ uint64, p Price) {
		if id == "" {
			out = append(out, p)
		}
	})
	return out, err
}

func liveVersions(live []stored) []string {
	var versions []string
	seen := map[uint64]bool{}
	for _, l := range live {
		if !seen[l.version] {
			seen[l.version] = true
			versions = append(versions, fmt.Sprint(l.version))
		}
	}
	return versions
}

// readPrices calls each for every price row the loads of versions wrote.
func readPrices(ctx context.Context, conn driver.Conn, db string, versions []string, each func(id string, version uint64, p Price)) error {
	q, err := query("price_cards_of_versions", map[string]string{"DB": db, "Versions": strings.Join(versions, ", ")})
	if err != nil {
		return err
	}
	rows, err := conn.Query(ctx, q)
	if err != nil {
		return fmt.Errorf("commitments: read %s.price_cards: %w", db, err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			id      string
			version uint64
			p       Price
		)
		if err := rows.Scan(&id, &version, &p.Provider, &p.InstanceType, &p.GPUModel, &p.PricePerGPUHour, &p.Currency); err != nil {
			return fmt.Errorf("commitments: read %s.price_cards: %w", db, err)
		}
		each(id, version, p)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("commitments: read %s.price_cards: %w", db, err)
	}
	return nil
}

// Current reads the live commitments back from db, ordered by id, with their rate cards.
func Current(ctx context.Context, conn driver.Conn, db string) ([]Commitment, error) {
	live, err := readLive(ctx, conn, db)
	if err != nil {
		return nil, err
	}
	out := make([]Commitment, len(live))
	idx := make(map[string]int, len(live))
	for i, l := range live {
		out[i] = l.Commitment
		idx[l.ID] = i
	}
	versions := liveVersions(live)
	if len(versions) == 0 {
		return out, nil
	}
	// Rates are read by the versions just read (numbers, safe to inline; 18.16 has no query parameters), not through
	// commitment_rates_current, so a load landing between the two queries cannot mismatch them.
	q, err := query("commitment_rates_of_versions", map[string]string{"DB": db, "Versions": strings.Join(versions, ", ")})
	if err != nil {
		return nil, err
	}
	rows, err := conn.Query(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("commitments: read %s.commitment_rates: %w", db, err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			id      string
			version uint64
			r       Rate
		)
		if err := rows.Scan(&id, &version, &r.InstanceType, &r.GPUModel, &r.PricePerGPUHour); err != nil {
			return nil, fmt.Errorf("commitments: read %s.commitment_rates: %w", db, err)
		}
		if i, ok := idx[id]; ok && live[i].version == version {
			out[i].RateCard = append(out[i].RateCard, r)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("commitments: read %s.commitment_rates: %w", db, err)
	}
	if err := readSettings(ctx, conn, db, versions, live, idx, out); err != nil {
		return nil, err
	}
	err = readPrices(ctx, conn, db, versions, func(id string, version uint64, p Price) {
		if i, ok := idx[id]; ok && id != "" && live[i].version == version {
			out[i].CommittedPrice, out[i].PriceCurrency = p.PricePerGPUHour, p.Currency
		}
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// readSettings sets the priorities and exhaustion thresholds the loads of versions wrote, by version as the rate
// cards are read. A commitment of a load without settings has priority 0 and the default exhaustion threshold.
func readSettings(ctx context.Context, conn driver.Conn, db string, versions []string, live []stored, idx map[string]int, out []Commitment) error {
	q, err := query("commitment_settings_of_versions", map[string]string{"DB": db, "Versions": strings.Join(versions, ", ")})
	if err != nil {
		return err
	}
	rows, err := conn.Query(ctx, q)
	if err != nil {
		return fmt.Errorf("commitments: read %s.commitment_settings: %w", db, err)
	}
	defer rows.Close()
	for i := range out {
		out[i].Alerts.ExhaustionDays = DefaultThresholds.ExhaustionDays
	}
	for rows.Next() {
		var (
			id       string
			version  uint64
			priority int32
			days     float64
		)
		if err := rows.Scan(&id, &version, &priority, &days); err != nil {
			return fmt.Errorf("commitments: read %s.commitment_settings: %w", db, err)
		}
		if i, ok := idx[id]; ok && live[i].version == version {
			out[i].Priority, out[i].Alerts.ExhaustionDays = priority, days
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("commitments: read %s.commitment_settings: %w", db, err)
	}
	return nil
}

// stored is a live row: the commitment (without its rate card) and the load that wrote it.
type stored struct {
	Commitment
	hash    string
	version uint64
}

func readLive(ctx context.Context, conn driver.Conn, db string) ([]stored, error) {
	q, err := query("commitments_live", map[string]string{"DB": db})
	if err != nil {
		return nil, err
	}
	rows, err := conn.Query(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("commitments: read %s.commitments_current: %w", db, err)
	}
	defer rows.Close()
	var out []stored
	for rows.Next() {
		var (
			s          stored
			kind       string
			keys, vals []string
		)
		c := &s.Commitment
		if err := rows.Scan(&c.ID, &c.Name, &c.Provider, &c.Scope.Account, &c.Scope.Region, &c.Scope.InstanceType,
			&c.Scope.GPUModel, &kind, &c.Quantity, &c.Unit, &c.Currency, &c.Start, &c.End, &c.Team, &keys, &vals,
			&c.Alerts.ProjectedShortfallPct, &c.Alerts.MinUtilizationPct, &c.Alerts.MaxLeakageGPUHours24h,
			&s.hash, &s.version); err != nil {
			return nil, fmt.Errorf("commitments: read %s.commitments_current: %w", db, err)
		}
		c.Kind = Kind(kind)
		c.Start, c.End = c.Start.UTC(), c.End.UTC()
		if len(keys) != len(vals) {
			return nil, fmt.Errorf("commitments: %s.commitments row %s has %d label keys but %d values", db, c.ID, len(keys), len(vals))
		}
		if len(keys) > 0 {
			c.Labels = make(map[string]string, len(keys))
			for i, k := range keys {
				c.Labels[k] = vals[i]
			}
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("commitments: read %s.commitments_current: %w", db, err)
	}
	return out, nil
}

// upToDate says the table's live rows are exactly one load of the set with this hash.
func upToDate(live []stored, n int, hash string) bool {
	if len(live) != n {
		return false
	}
	for _, l := range live {
		if l.hash != hash {
			return false
		}
	}
	return true
}

func write(ctx context.Context, conn driver.Conn, db string, cs, gone []Commitment, hash string, version uint64) error {
	var rates int
	for _, c := range cs {
		rates += len(c.RateCard)
	}
	if rates > 0 {
		q, err := query("insert_commitment_rates", map[string]string{"DB": db})
		if err != nil {
			return err
		}
		batch, err := conn.PrepareBatch(ctx, q)
		if err != nil {
			return fmt.Errorf("commitments: prepare insert into %s.commitment_rates: %w", db, err)
		}
		defer func() { _ = batch.Abort() }()
		for _, c := range cs {
			for j, r := range c.RateCard {
				if err := batch.Append(c.ID, version, uint16(j), r.InstanceType, r.GPUModel, r.PricePerGPUHour); err != nil {
					return fmt.Errorf("commitments: rate card of %s: %w", c.ID, err)
				}
			}
		}
		if err := batch.Send(); err != nil {
			return fmt.Errorf("commitments: insert %d rate card lines into %s.commitment_rates: %w", rates, db, err)
		}
	}

	if err := writeSettings(ctx, conn, db, cs, version); err != nil {
		return err
	}

	q, err := query("insert_commitments", map[string]string{"DB": db})
	if err != nil {
		return err
	}
	batch, err := conn.PrepareBatch(ctx, q)
	if err != nil {
		return fmt.Errorf("commitments: prepare insert into %s.commitments: %w", db, err)
	}
	defer func() { _ = batch.Abort() }()
	add := func(c Commitment, deleted uint8) error {
		keys := slices.Sorted(maps.Keys(c.Labels))
		vals := make([]string, len(keys))
		for i, k := range keys {
			vals[i] = c.Labels[k]
		}
		if keys == nil {
			keys = []string{}
		}
		err := batch.Append(c.ID, c.Name, c.Provider, c.Scope.Account, c.Scope.Region, c.Scope.InstanceType,
			c.Scope.GPUModel, string(c.Kind), c.Quantity, c.Unit, c.Currency, c.Start.UTC(), c.End.UTC(), c.Team,
			keys, vals, c.Alerts.ProjectedShortfallPct, c.Alerts.MinUtilizationPct, c.Alerts.MaxLeakageGPUHours24h,
			deleted, hash, version)
		if err != nil {
			return fmt.Errorf("commitments: row for %s: %w", c.ID, err)
		}
		return nil
	}
	for _, c := range cs {
		if err := add(c, 0); err != nil {
			return err
		}
	}
	for _, c := range gone {
		if err := add(c, 1); err != nil {
			return err
		}
	}
	if err := batch.Send(); err != nil {
		return fmt.Errorf("commitments: insert %d rows (%d deleted) into %s.commitments: %w", len(cs)+len(gone), len(gone), db, err)
	}
	return nil
}

// writeSettings stores the load's priorities and exhaustion thresholds (commitment_settings, migration 0008) before
// its commitments, as the rate cards are.
func writeSettings(ctx context.Context, conn driver.Conn, db string, cs []Commitment, version uint64) error {
	n := len(cs)
	if n == 0 {
		return nil
	}
	q, err := query("insert_commitment_settings", map[string]string{"DB": db})
	if err != nil {
		return err
	}
	batch, err := conn.PrepareBatch(ctx, q)
	if err != nil {
		return fmt.Errorf("commitments: prepare insert into %s.commitment_settings: %w", db, err)
	}
	defer func() { _ = batch.Abort() }()
	for _, c := range cs {
		if err := batch.Append(c.ID, version, c.Priority, c.Alerts.ExhaustionDays); err != nil {
			return fmt.Errorf("commitments: settings of %s: %w", c.ID, err)
		}
	}
	if err := batch.Send(); err != nil {
		return fmt.Errorf("commitments: insert %d settings into %s.commitment_settings: %w", n, db, err)
	}
	return nil
}

// checkSet catches what Parse would have, for commitments built by hand: Sync's bookkeeping relies on unique ids,
// and DateTime holds only 1970..2106.
func checkSet(cs []Commitment) error {
	seen := make(map[string]bool, len(cs))
	for i, c := range cs {
		switch {
		case c.ID == "":
			return fmt.Errorf("commitments: commitments[%d] has no id", i)
		case seen[c.ID]:
			return fmt.Errorf("commitments: id %s appears twice", c.ID)
		case !inDateTime(c.Start) || !inDateTime(c.End):
			return fmt.Errorf("commitments: %s: term %s..%s is outside ClickHouse DateTime", c.ID, c.Start, c.End)
		}
		seen[c.ID] = true
	}
	return nil
}

func inDateTime(t time.Time) bool { return t.Unix() >= 0 && t.Unix() <= math.MaxUint32 }

// setHash is the SHA-256 of the commitments in a canonical form: sorted by id, times as Unix seconds, labels sorted
// (encoding/json sorts map keys), empty and absent collections alike. Reordering the file changes nothing.
func setHash(cs []Commitment, prices PriceCards) [sha256.Size]byte {
	type canon struct {
		ID, Name, Provider string
		Scope              Scope
		Kind               Kind
		Quantity           float64
		Unit               string
		Start, End         int64
		Currency           string
		RateCard           []Rate
		Team               string
		Labels             map[string]string
		Alerts             Thresholds
		Priority           int32   `json:",omitempty"` // omitted at 0, so sets without priorities keep their hash
		CommittedPrice     float64 `json:",omitempty"` // likewise for sets without prices
		PriceCurrency      string  `json:",omitempty"`
	}
	list := make([]canon, len(cs))
	for i, c := range cs {
		list[i] = canon{c.ID, c.Name, c.Provider, c.Scope, c.Kind, c.Quantity, c.Unit, c.Start.Unix(), c.End.Unix(),
			c.Currency, c.RateCard, c.Team, c.Labels, c.Alerts, c.Priority, c.CommittedPrice, c.PriceCurrency}
		if len(c.RateCard) == 0 {
			list[i].RateCard = nil
		}
		if len(c.Labels) == 0 {
			list[i].Labels = nil
		}
	}
	slices.SortFunc(list, func(a, b canon) int { return cmp.Compare(a.ID, b.ID) })
	var whole any = list
	if len(prices) > 0 { // a set without prices keeps its hash
		whole = struct {
			Commitments []canon
			Prices      PriceCards
		}{list, prices}
	}
	data, err := json.Marshal(whole)
	if err != nil { // only NaN or Inf quantities, which Parse rejects; hash their text instead of failing
		data = fmt.Appendf(nil, "%#v", whole)
	}
	return sha256.Sum256(append([]byte("gpumeter commitments v1\n"), data...))
}
