package pgshard

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/otel/metric"

	"github.com/scalekit-go/scalekit/clock"
	"github.com/scalekit-go/scalekit/shard"
)

// ReplicaOptions configures NewReplicaSet. Nil means defaults.
type ReplicaOptions struct {
	// MaxWait bounds how long a read with a token waits for a replica to
	// replay the token's position before going to the primary; 0 means
	// 100ms.
	MaxWait time.Duration
	// PollInterval is the pause between two checks of a replica's replay
	// position while waiting; 0 means 5ms. (PostgreSQL 15 has no WAIT FOR
	// LSN, so the position is polled.)
	PollInterval time.Duration
	// MaxLag is the replication lag beyond which a replica receives no
	// reads at all (measured by Refresh); 0 means 5s.
	MaxLag time.Duration
	// Clock drives waiting and lag measurement; nil means real time.
	Clock clock.Clock
	// Name is the scalekit.name metric attribute; "" means "pgshard".
	Name string
	// MeterProvider for metrics; nil means the global provider.
	MeterProvider metric.MeterProvider
}

// Route says where a read went and why.
type Route struct {
	// Replica is the index of the replica used, -1 for the primary.
	Replica int
	// Reason is "replica", "no-replica", "behind" (no replica reached
	// the token in MaxWait) or "lagging" (every replica beyond MaxLag or
	// down).
	Reason string
}

type replica struct {
	pool   *pgxpool.Pool
	replay atomic.Uint64 // last replay LSN seen
	lagNs  atomic.Int64  // last measured lag; -1 unknown
	down   atomic.Bool
}

type sample struct {
	at  time.Time
	lsn uint64
}

// ReplicaSet routes one shard's queries: writes to the primary, reads to a
// replica within the lag bound, and reads carrying a session token to a
// replica only once it has replayed the token's WAL position (else to the
// primary). Safe for concurrent use.
type ReplicaSet struct {
	shard    string
	primary  *pgxpool.Pool
	replicas []*replica
	o        ReplicaOptions
	metrics  *shard.Metrics
	next     atomic.Uint32

	mu      sync.Mutex
	samples []sample // primary positions over time, oldest first
}

// NewReplicaSet returns the router of shard (its name in tokens) over a
// primary pool and replica pools (possibly none). It does no I/O.
func NewReplicaSet(shardName string, primary *pgxpool.Pool, replicas []*pgxpool.Pool, opts *ReplicaOptions) (*ReplicaSet, error) {
	if primary == nil || shardName == "" {
		return nil, fmt.Errorf("pgshard.NewReplicaSet: nil primary or empty shard name: %w", shard.ErrBadArgument)
	}
	if _, err := shard.ParseToken(shardName + "=0/0"); err != nil {
		return nil, fmt.Errorf("pgshard.NewReplicaSet: shard name %q: %w", shardName, shard.ErrBadArgument)
	}
	rs := &ReplicaSet{shard: shardName, primary: primary}
	if opts != nil {
		rs.o = *opts
	}
	if rs.o.MaxWait < 0 || rs.o.PollInterval < 0 || rs.o.MaxLag < 0 {
		return nil, fmt.Errorf("pgshard.NewReplicaSet: negative duration: %w", shard.ErrBadArgument)
	}
	if rs.o.MaxWait == 0 {
		rs.o.MaxWait = 100 * time.Millisecond
	}
	if rs.o.PollInterval == 0 {
		rs.o.PollInterval = 5 * time.Millisecond
	}
	if rs.o.MaxLag == 0 {
		rs.o.MaxLag = 5 * time.Second
	}
	rs.o.Clock = clock.Or(rs.o.Clock)
	if rs.o.Name == "" {
		rs.o.Name = "pgshard"
	}
	rs.metrics = shard.MetricsFor(rs.o.MeterProvider)
	for i, p := range replicas {
		if p == nil {
			return nil, fmt.Errorf("pgshard.NewReplicaSet: replica %d is nil: %w", i, shard.ErrBadArgument)
		}
		r := &replica{pool: p}
		r.lagNs.Store(-1)
		rs.replicas = append(rs.replicas, r)
	}
	return rs, nil
}

// Primary returns the primary pool.
func (rs *ReplicaSet) Primary() *pgxpool.Pool { return rs.primary }

// Write runs fn in a transaction on the primary and, once it has
// committed, returns tok raised to the primary's current WAL position,
// which covers the commit.
func (rs *ReplicaSet) Write(ctx context.Context, tok shard.Token, fn func(pgx.Tx) error) (shard.Token, error) {
	if err := pgx.BeginFunc(ctx, rs.primary, fn); err != nil {
		if ctx.Err() != nil {
			return tok, ctx.Err()
		}
		return tok, fmt.Errorf("pgshard.Write %s: %w", rs.shard, err)
	}
	lsn, err := rs.primaryLSN(ctx)
	if err != nil {
		return tok, fmt.Errorf("pgshard.Write %s: committed, but reading the WAL position failed: %w", rs.shard, err)
	}
	return tok.With(rs.shard, lsn), nil
}

func (rs *ReplicaSet) primaryLSN(ctx context.Context) (uint64, error) {
	var s string
	if err := rs.primary.QueryRow(ctx, `SELECT pg_current_wal_lsn()::text`).Scan(&s); err != nil {
		return 0, err
	}
	return shard.ParseLSN(s)
}

func (r *replica) poll(ctx context.Context) (uint64, error) {
	var s *string
	if err := r.pool.QueryRow(ctx, `SELECT pg_last_wal_replay_lsn()::text`).Scan(&s); err != nil {
		r.down.Store(true)
		return 0, err
	}
	r.down.Store(false)
	if s == nil {
		return 0, errors.New("pgshard: not a standby (pg_last_wal_replay_lsn is NULL)")
	}
	lsn, err := shard.ParseLSN(*s)
	if err != nil {
		return 0, err
	}
	for { // keep the highest position seen
		old := r.replay.Load()
		if lsn <= old || r.replay.CompareAndSwap(old, lsn) {
			break
		}
	}
	return lsn, nil
}

// Refresh samples the primary's WAL position and every replica's replay
// position, and updates each replica's lag: the time since the primary
// first reached a position the replica has not yet replayed (0 when the
// replica has replayed the last sample). Run calls it periodically;
// without it, lag is unknown and does not exclude replicas.
func (rs *ReplicaSet) Refresh(ctx context.Context) error {
	now := rs.o.Clock.Now()
	p, err := rs.primaryLSN(ctx)
	if err != nil {
		return fmt.Errorf("pgshard.Refresh %s: primary: %w", rs.shard, err)
	}
	rs.mu.Lock()
	if n := len(rs.samples); n == 0 || rs.samples[n-1].lsn != p {
		rs.samples = append(rs.samples, sample{now, p})
	}
	samples := append([]sample(nil), rs.samples...)
	rs.mu.Unlock()
	oldest := p
	for i, r := range rs.replicas {
		lsn, err := r.poll(ctx)
		if err != nil {
			continue
		}
		oldest = min(oldest, lsn)
		lag := time.Duration(0)
		for _, s := range samples {
			if s.lsn > lsn {
				lag = now.Sub(s.at)
				break
			}
		}
		r.lagNs.Store(int64(lag))
		rs.metrics.ReplicaLag(ctx, rs.o.Name, fmt.Sprintf("%s/%d", rs.shard, i), lag)
	}
	// Forget samples every replica has replayed, except the last.
	rs.mu.Lock()
	for len(rs.samples) > 1 && rs.samples[1].lsn <= oldest {
		rs.samples = rs.samples[1:]
	}
	rs.mu.Unlock()
	return nil
}

// Run calls Refresh every interval until ctx ends and returns ctx.Err().
func (rs *ReplicaSet) Run(ctx context.Context, interval time.Duration) error {
	if interval <= 0 {
		return fmt.Errorf("pgshard.Run: interval %v: %w", interval, shard.ErrBadArgument)
	}
	for {
		_ = rs.Refresh(ctx)
		if err := clock.Sleep(ctx, rs.o.Clock, interval); err != nil {
			return err
		}
	}
}

// Lag returns replica i's last measured lag, false if unknown.
func (rs *ReplicaSet) Lag(i int) (time.Duration, bool) {
	if i < 0 || i >= len(rs.replicas) {
		return 0, false
	}
	l := rs.replicas[i].lagNs.Load()
	return time.Duration(l), l >= 0
}

// ReadPool chooses the pool for a read by the session holding tok (zero
// for no session): a healthy replica within MaxLag that has replayed the
// token's position for this shard, waiting up to MaxWait for one to catch
// up, else the primary.
func (rs *ReplicaSet) ReadPool(ctx context.Context, tok shard.Token) (*pgxpool.Pool, Route, error) {
	if len(rs.replicas) == 0 {
		return rs.primary, Route{-1, "no-replica"}, nil
	}
	need := tok.LSN(rs.shard)
	var cands []int
	start := int(rs.next.Add(1))
	for k := range rs.replicas {
		i := (start + k) % len(rs.replicas)
		r := rs.replicas[i]
		if r.down.Load() {
			continue
		}
		if lag := r.lagNs.Load(); lag > int64(rs.o.MaxLag) {
			continue
		}
		cands = append(cands, i)
	}
	if len(cands) == 0 {
		// Down replicas get a fresh chance at the next Refresh.
		return rs.primary, Route{-1, "lagging"}, nil
	}
	if need == 0 {
		return rs.replicas[cands[0]].pool, Route{cands[0], "replica"}, nil
	}
	for _, i := range cands { // cached positions first: no round trip
		if rs.replicas[i].replay.Load() >= need {
			return rs.replicas[i].pool, Route{i, "replica"}, nil
		}
	}
	deadline := rs.o.Clock.Now().Add(rs.o.MaxWait)
	for {
		for _, i := range cands {
			lsn, err := rs.replicas[i].poll(ctx)
			if err == nil && lsn >= need {
				return rs.replicas[i].pool, Route{i, "replica"}, nil
			}
			if ctx.Err() != nil {
				return nil, Route{}, ctx.Err()
			}
		}
		if !rs.o.Clock.Now().Before(deadline) {
			return rs.primary, Route{-1, "behind"}, nil
		}
		if err := clock.Sleep(ctx, rs.o.Clock, rs.o.PollInterval); err != nil {
			return nil, Route{}, err
		}
	}
}
