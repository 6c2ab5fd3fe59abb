package shard_test

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/scalekit-go/scalekit/internal/testenv"
	"github.com/scalekit-go/scalekit/shard"
)

type row struct {
	ID int64
	G  string
	V  *int64
}

// pgFixture is one unsharded table and the same rows split over three
// shard databases by a two-level Map.
type pgFixture struct {
	whole  *pgxpool.Pool
	shards map[string]*pgxpool.Pool
	names  []string
}

func newPGFixture(t *testing.T) *pgFixture {
	ctx := context.Background()
	open := func() *pgxpool.Pool {
		p, err := pgxpool.New(ctx, testenv.PostgresURL(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(p.Close)
		if _, err := p.Exec(ctx, `CREATE TABLE t (id bigint PRIMARY KEY, g text NOT NULL, v bigint)`); err != nil {
			t.Fatal(err)
		}
		return p
	}
	f := &pgFixture{whole: open(), shards: map[string]*pgxpool.Pool{}, names: []string{"db0", "db1", "db2"}}
	for _, n := range f.names {
		f.shards[n] = open()
	}
	m, _ := shard.Spread(32, f.names)
	rng := rand.New(rand.NewPCG(1, 2))
	var rows []row
	for i := int64(1); i <= 3000; i++ {
		r := row{ID: i, G: fmt.Sprintf("g%02d", rng.IntN(17))}
		if rng.IntN(10) > 0 { // 10% NULLs
			v := rng.Int64N(1000) - 300
			r.V = &v
		}
		// Skew: group g00 lives mostly on one shard.
		rows = append(rows, r)
	}
	byShard := map[string][][]any{}
	var all [][]any
	for _, r := range rows {
		_, n := m.Lookup(fmt.Sprint(r.ID))
		byShard[n] = append(byShard[n], []any{r.ID, r.G, r.V})
		all = append(all, []any{r.ID, r.G, r.V})
	}
	copyRows := func(p *pgxpool.Pool, rs [][]any) {
		if _, err := p.CopyFrom(ctx, pgx.Identifier{"t"}, []string{"id", "g", "v"}, pgx.CopyFromRows(rs)); err != nil {
			t.Fatal(err)
		}
	}
	copyRows(f.whole, all)
	for n, rs := range byShard {
		copyRows(f.shards[n], rs)
	}
	return f
}

func (f *pgFixture) scatter(t *testing.T, fn func(ctx context.Context, p *pgxpool.Pool) (any, error)) []any {
	res, err := shard.Scatter(context.Background(), f.names, func(ctx context.Context, s string) (any, error) {
		return fn(ctx, f.shards[s])
	}, &shard.ScatterOptions{Concurrency: 2})
	if err != nil {
		t.Fatal(err)
	}
	out := make([]any, len(res))
	for i, r := range res {
		out[i] = r.Value
	}
	return out
}

type vrow struct {
	V  int64
	ID int64
}

func TestScatterGatherEqualsUnshardedPostgres(t *testing.T) {
	f := newPGFixture(t)
	ctx := context.Background()

	t.Run("OrderByLimitOffset", func(t *testing.T) {
		const q = `SELECT v, id FROM t WHERE v IS NOT NULL ORDER BY v DESC, id LIMIT $1 OFFSET $2`
		for _, lim := range [][2]int{{10, 0}, {25, 7}, {5, 2990}} {
			limit, offset := lim[0], lim[1]
			want := queryRows(t, f.whole, q, limit, offset)
			parts := f.scatter(t, func(ctx context.Context, p *pgxpool.Pool) (any, error) {
				return queryRowsErr(ctx, p, q, shard.PushdownLimit(offset, limit), 0)
			})
			lists := make([][]vrow, len(parts))
			for i, p := range parts {
				lists[i] = p.([]vrow)
			}
			got, err := shard.MergeSorted(lists, func(a, b vrow) int {
				if c := cmp.Compare(b.V, a.V); c != 0 { // DESC
					return c
				}
				return cmp.Compare(a.ID, b.ID)
			}, offset, limit)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("limit %d offset %d:\n got %v\nwant %v", limit, offset, got, want)
			}
		}
	})

	const aggQ = `SELECT count(*), count(v), coalesce(sum(v), 0)::bigint, coalesce(min(v), 0), coalesce(max(v), 0) FROM t`
	scan := func(r pgx.Row) (shard.Partial[int64], error) {
		var p shard.Partial[int64]
		err := r.Scan(&p.Rows, &p.Count, &p.Sum, &p.Min, &p.Max)
		return p, err
	}
	t.Run("CountSumMinMaxAvg", func(t *testing.T) {
		want, err := scan(f.whole.QueryRow(ctx, aggQ))
		if err != nil {
			t.Fatal(err)
		}
		var wantAvg float64
		if err := f.whole.QueryRow(ctx, `SELECT avg(v)::float8 FROM t`).Scan(&wantAvg); err != nil {
			t.Fatal(err)
		}
		parts := f.scatter(t, func(ctx context.Context, p *pgxpool.Pool) (any, error) { return scan(p.QueryRow(ctx, aggQ)) })
		ps := make([]shard.Partial[int64], len(parts))
		var avgOfAvgs float64
		for i, p := range parts {
			ps[i] = p.(shard.Partial[int64])
			a, _ := ps[i].Avg()
			avgOfAvgs += a / float64(len(parts))
		}
		got := shard.Aggregate(ps)
		if got != want {
			t.Fatalf("got %+v want %+v", got, want)
		}
		avg, _ := got.Avg()
		if math.Abs(avg-wantAvg) > 1e-9 {
			t.Fatalf("avg %v want %v", avg, wantAvg)
		}
		if math.Abs(avgOfAvgs-wantAvg) < 1e-9 {
			t.Log("note: average of averages happens to match on this data")
		}
	})

	t.Run("GroupBy", func(t *testing.T) {
		const q = `SELECT g, count(*), count(v), coalesce(sum(v), 0)::bigint, coalesce(min(v), 0), coalesce(max(v), 0) FROM t GROUP BY g ORDER BY g`
		groups := func(ctx context.Context, p *pgxpool.Pool) ([]shard.Group[string, int64], error) {
			rows, err := p.Query(ctx, q)
			if err != nil {
				return nil, err
			}
			return pgx.CollectRows(rows, func(r pgx.CollectableRow) (shard.Group[string, int64], error) {
				var g shard.Group[string, int64]
				err := r.Scan(&g.Key, &g.Rows, &g.Count, &g.Sum, &g.Min, &g.Max)
				return g, err
			})
		}
		want, err := groups(ctx, f.whole)
		if err != nil {
			t.Fatal(err)
		}
		parts := f.scatter(t, func(ctx context.Context, p *pgxpool.Pool) (any, error) { return groups(ctx, p) })
		gs := make([][]shard.Group[string, int64], len(parts))
		for i, p := range parts {
			gs[i] = p.([]shard.Group[string, int64])
		}
		got := shard.GroupBy(gs)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("group by:\n got %v\nwant %v", got, want)
		}
		// AVG per group from merged sums and counts equals PostgreSQL's.
		rows, _ := f.whole.Query(ctx, `SELECT g, avg(v)::float8 FROM t GROUP BY g ORDER BY g`)
		avgs, err := pgx.CollectRows(rows, pgx.RowToStructByPos[struct {
			G string
			A *float64
		}])
		if err != nil {
			t.Fatal(err)
		}
		for i, a := range avgs {
			v, ok := got[i].Avg()
			if (a.A == nil) == ok || (ok && math.Abs(v-*a.A) > 1e-9) {
				t.Fatalf("group %s avg %v want %v", a.G, v, a.A)
			}
		}
	})
}

func queryRowsErr(ctx context.Context, p *pgxpool.Pool, q string, limit, offset int) ([]vrow, error) {
	rows, err := p.Query(ctx, q, limit, offset)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[vrow])
}

func queryRows(t *testing.T, p *pgxpool.Pool, q string, limit, offset int) []vrow {
	r, err := queryRowsErr(context.Background(), p, q, limit, offset)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
