package pgshard_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/scalekit-go/scalekit/internal/testenv"
	"github.com/scalekit-go/scalekit/shard"
	"github.com/scalekit-go/scalekit/shard/pgshard"
)

// BenchmarkMigration moves logical shard 0 (a quarter of 80k rows) between
// two nodes while three writers insert and update rows, and reports the
// copy rate, the write pause of the cut-over, and the slowest write seen
// by the writers (which includes waiting through the pause):
//
//	go test -run=^$ -bench=Migration -benchtime=1x ./shard/pgshard/
func BenchmarkMigration(b *testing.B) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	urls := map[string]string{"ctl": testenv.PostgresURL(b), "n0": testenv.PostgresURL(b), "n1": testenv.PostgresURL(b)}
	c := openCluster(b, urls)
	m0, _ := shard.Spread(4, []string{"n0", "n1"})
	for _, n := range []string{"n0", "n1"} {
		if _, err := c.pools[n].Exec(ctx, itemsDDL); err != nil {
			b.Fatal(err)
		}
	}
	r, _ := shard.NewRouter(c.ctl, "items", &shard.RouterOptions{PollInterval: 200 * time.Millisecond})
	if err := r.Publish(ctx, m0); err != nil {
		b.Fatal(err)
	}
	mig := newMigrator(b, c, &pgshard.MigratorOptions{BatchSize: 1000})
	rows := map[string][][]any{}
	const total = 80_000
	for i := 1; i <= total; i++ {
		l, n := m0.Lookup(strconv.Itoa(i))
		rows[n] = append(rows[n], []any{int64(i), l, 0, "preloaded row with some payload"})
	}
	for n, rs := range rows {
		if _, err := c.pools[n].CopyFrom(ctx, pgx.Identifier{"items"}, []string{"id", "lshard", "v", "note"}, pgx.CopyFromRows(rs)); err != nil {
			b.Fatal(err)
		}
	}
	go func() { _ = r.Run(ctx) }()
	w, _ := pgshard.NewWriter(r, c.nodes(), nil)
	wl := &workload{w: w, acked: map[int64]int{}, errs: make(chan error, 16), stop: make(chan struct{})}
	wl.next.Store(total)
	wl.start(ctx, 3)
	dst := "n1"
	b.ResetTimer()
	var st pgshard.Stats
	for i := 0; i < b.N; i++ {
		var err error
		st, err = mig.Move(ctx, 0, dst)
		if err != nil {
			b.Fatal(err)
		}
		dst = map[string]string{"n0": "n1", "n1": "n0"}[dst]
	}
	b.StopTimer()
	close(wl.stop)
	wl.wg.Wait()
	select {
	case err := <-wl.errs:
		b.Fatalf("writer failed: %v", err)
	default:
	}
	b.ReportMetric(float64(st.RowsCopied)/st.Duration.Seconds(), "rows/s")
	b.ReportMetric(float64(st.RowsCopied), "rows")
	b.ReportMetric(float64(st.Pause.Microseconds())/1000, "pause-ms")
	b.ReportMetric(float64(w.MaxLatency().Microseconds())/1000, "max-write-ms")
	b.ReportMetric(float64(wl.ops.Load()), "writes")
}
