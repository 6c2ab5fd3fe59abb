package main

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/scalekit-go/scalekit/sketch"
)

// pgStats keeps analytics in PostgreSQL. Apply is one transaction: it
// inserts the batch's click IDs into shortener_click_seen with ON CONFLICT
// DO NOTHING and counts only the IDs that insert returned, so the dedup
// record and the counts commit together — a crash before commit loses
// both, a crash after commit (before the queue ack) redelivers clicks that
// are then skipped. Counts are per-hour and per-dimension rows updated by
// upsert: no COUNT(*) over raw clicks at read time.
type pgStats struct{ pool *pgxpool.Pool }

const statsDDL = `
CREATE TABLE IF NOT EXISTS shortener_click_seen (id bigint PRIMARY KEY, at timestamptz NOT NULL DEFAULT now());
CREATE TABLE IF NOT EXISTS shortener_stats (code text PRIMARY KEY, clicks bigint NOT NULL DEFAULT 0,
	bots bigint NOT NULL DEFAULT 0, hll bytea);
CREATE TABLE IF NOT EXISTS shortener_click_hours (code text, hour timestamptz, n bigint NOT NULL,
	PRIMARY KEY (code, hour));
CREATE TABLE IF NOT EXISTS shortener_click_dims (code text, dim text, name text, n bigint NOT NULL,
	PRIMARY KEY (code, dim, name));`

func openPGStats(ctx context.Context, pool *pgxpool.Pool) (*pgStats, error) {
	if err := withAdvisoryLock(ctx, pool, "shortener-schema", func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, statsDDL)
		return err
	}); err != nil {
		return nil, fmt.Errorf("create stats tables: %w", err)
	}
	return &pgStats{pool: pool}, nil
}

func (p *pgStats) Apply(ctx context.Context, clicks []Click) (int, error) {
	ids := make([]int64, len(clicks))
	for i, c := range clicks {
		ids[i] = c.ID
	}
	tx, err := p.pool.Begin(ctx)
	if err != nil {
		return 0, err
	}
	defer func() { _ = tx.Rollback(ctx) }()
	rows, err := tx.Query(ctx, `INSERT INTO shortener_click_seen (id) SELECT unnest($1::bigint[])
		ON CONFLICT DO NOTHING RETURNING id`, ids)
	if err != nil {
		return 0, err
	}
	fresh := map[int64]bool{}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return 0, err
		}
		fresh[id] = true
	}
	if err := rows.Err(); err != nil {
		return 0, err
	}
	aggs := map[string]*linkAgg{}
	n := 0
	for _, c := range clicks {
		if !fresh[c.ID] {
			continue
		}
		delete(fresh, c.ID) // the same ID twice in one batch counts once
		a := aggs[c.Code]
		if a == nil {
			a = newLinkAgg()
			aggs[c.Code] = a
		}
		a.add(c)
		n++
	}
	codes := make([]string, 0, len(aggs))
	for c := range aggs {
		codes = append(codes, c)
	}
	sort.Strings(codes) // a fixed lock order: concurrent consumers never deadlock
	for _, code := range codes {
		if err := applyAgg(ctx, tx, code, aggs[code]); err != nil {
			return 0, err
		}
	}
	return n, tx.Commit(ctx)
}

func applyAgg(ctx context.Context, tx pgx.Tx, code string, a *linkAgg) error {
	if _, err := tx.Exec(ctx, `INSERT INTO shortener_stats (code) VALUES ($1) ON CONFLICT DO NOTHING`, code); err != nil {
		return err
	}
	var enc []byte
	if err := tx.QueryRow(ctx, `SELECT hll FROM shortener_stats WHERE code = $1 FOR UPDATE`, code).Scan(&enc); err != nil {
		return err
	}
	if len(enc) > 0 {
		old, _ := sketch.NewHyperLogLog(hllPrecision)
		if err := old.UnmarshalBinary(enc); err != nil {
			return fmt.Errorf("decode hll of %s: %w", code, err)
		}
		if err := a.hll.Merge(old); err != nil {
			return err
		}
	}
	enc, err := a.hll.MarshalBinary()
	if err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `UPDATE shortener_stats SET clicks = clicks + $2, bots = bots + $3, hll = $4 WHERE code = $1`,
		code, a.clicks, a.bots, enc); err != nil {
		return err
	}
	b := &pgx.Batch{}
	for h, n := range a.hours {
		b.Queue(`INSERT INTO shortener_click_hours (code, hour, n) VALUES ($1, $2, $3)
			ON CONFLICT (code, hour) DO UPDATE SET n = shortener_click_hours.n + EXCLUDED.n`, code, time.Unix(h*3600, 0).UTC(), n)
	}
	for dim, m := range a.dims {
		for name, n := range m {
			b.Queue(`INSERT INTO shortener_click_dims (code, dim, name, n) VALUES ($1, $2, $3, $4)
				ON CONFLICT (code, dim, name) DO UPDATE SET n = shortener_click_dims.n + EXCLUDED.n`, code, dim, name, n)
		}
	}
	return tx.SendBatch(ctx, b).Close()
}

func (p *pgStats) Get(ctx context.Context, code string) (Stats, error) {
	s := Stats{Code: code, Hours: []HourCount{}, Referrers: []NameCount{}, Browsers: []NameCount{}, OS: []NameCount{}}
	var enc []byte
	err := p.pool.QueryRow(ctx, `SELECT clicks, bots, hll FROM shortener_stats WHERE code = $1`, code).Scan(&s.Clicks, &s.Bots, &enc)
	if errors.Is(err, pgx.ErrNoRows) {
		return s, nil
	}
	if err != nil {
		return s, err
	}
	if len(enc) > 0 {
		h, _ := sketch.NewHyperLogLog(hllPrecision)
		if err := h.UnmarshalBinary(enc); err != nil {
			return s, err
		}
		s.Unique = h.Count()
	}
	rows, err := p.pool.Query(ctx, `SELECT hour, n FROM shortener_click_hours WHERE code = $1 ORDER BY hour`, code)
	if err != nil {
		return s, err
	}
	for rows.Next() {
		var hc HourCount
		if err := rows.Scan(&hc.Hour, &hc.Count); err != nil {
			rows.Close()
			return s, err
		}
		hc.Hour = hc.Hour.UTC()
		s.Hours = append(s.Hours, hc)
	}
	if err := rows.Err(); err != nil {
		return s, err
	}
	rows, err = p.pool.Query(ctx, `SELECT dim, name, n FROM shortener_click_dims WHERE code = $1 ORDER BY n DESC, name`, code)
	if err != nil {
		return s, err
	}
	defer rows.Close()
	for rows.Next() {
		var dim string
		var nc NameCount
		if err := rows.Scan(&dim, &nc.Name, &nc.Count); err != nil {
			return s, err
		}
		switch {
		case dim == "ref" && len(s.Referrers) < 10:
			s.Referrers = append(s.Referrers, nc)
		case dim == "browser" && len(s.Browsers) < 10:
			s.Browsers = append(s.Browsers, nc)
		case dim == "os" && len(s.OS) < 10:
			s.OS = append(s.OS, nc)
		}
	}
	return s, rows.Err()
}

func (p *pgStats) Delete(ctx context.Context, code string) error {
	tx, err := p.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback(ctx) }()
	for _, t := range []string{"shortener_stats", "shortener_click_hours", "shortener_click_dims"} {
		if _, err := tx.Exec(ctx, `DELETE FROM `+t+` WHERE code = $1`, code); err != nil {
			return err
		}
	}
	return tx.Commit(ctx)
}

// Prune forgets dedup IDs older than seenWindow.
func (p *pgStats) Prune(ctx context.Context) error {
	_, err := p.pool.Exec(ctx, `DELETE FROM shortener_click_seen WHERE at < now() - $1::interval`, seenWindow.String())
	return err
}

func (p *pgStats) Close() error { return nil }
