package idgen

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/scalekit-go/scalekit/clock"
)

// small has 16 IDs per 1ms tick, so exhaustion is easy to reach.
var small = Layout{TimeBits: 41, NodeBits: 18, SeqBits: 4, Tick: time.Millisecond, Epoch: TwitterLayout.Epoch}

func newFake(t *testing.T) *clock.Fake {
	t.Helper()
	return clock.NewFake(time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC))
}

func mustSnowflake(t *testing.T, node int64, o *SnowflakeOptions) *Snowflake {
	t.Helper()
	g, err := NewSnowflake(node, o)
	if err != nil {
		t.Fatalf("NewSnowflake: %v", err)
	}
	return g
}

func TestLayoutValidation(t *testing.T) {
	for _, tc := range []struct {
		name string
		l    Layout
	}{
		{"sum62", Layout{TimeBits: 41, NodeBits: 10, SeqBits: 11, Tick: time.Millisecond, Epoch: TwitterLayout.Epoch}},
		{"sum64", Layout{TimeBits: 41, NodeBits: 10, SeqBits: 13, Tick: time.Millisecond, Epoch: TwitterLayout.Epoch}},
		{"noSeq", Layout{TimeBits: 41, NodeBits: 22, SeqBits: 0, Tick: time.Millisecond, Epoch: TwitterLayout.Epoch}},
		{"zeroTick", Layout{TimeBits: 41, NodeBits: 10, SeqBits: 12, Epoch: TwitterLayout.Epoch}},
		{"noEpoch", Layout{TimeBits: 41, NodeBits: 10, SeqBits: 12, Tick: time.Millisecond}},
		{"tinyTime", Layout{TimeBits: 8, NodeBits: 10, SeqBits: 45, Tick: time.Millisecond, Epoch: TwitterLayout.Epoch}},
	} {
		if err := tc.l.Validate(); !errors.Is(err, ErrInvalidLayout) {
			t.Errorf("%s: Validate = %v, want ErrInvalidLayout", tc.name, err)
		}
	}
	for _, l := range []Layout{TwitterLayout, LongLivedLayout, small} {
		if err := l.Validate(); err != nil {
			t.Errorf("preset %+v invalid: %v", l, err)
		}
	}
}

func TestLayoutFigures(t *testing.T) {
	if got := TwitterLayout.MaxRate(); got != 4096000 {
		t.Errorf("Twitter MaxRate = %v, want 4,096,000/s", got)
	}
	if got := LongLivedLayout.MaxRate(); got != 25600 {
		t.Errorf("LongLived MaxRate = %v, want 25,600/s", got)
	}
	if y := TwitterLayout.End().Year(); y != 2080 {
		t.Errorf("Twitter layout ends in %d, want 2080", y)
	}
	if y := LongLivedLayout.Lifetime().Hours() / 24 / 365.25; y < 170 || y > 176 {
		t.Errorf("LongLived lifetime = %.1f years, want ~174", y)
	}
	if TwitterLayout.MaxNode() != 1023 || TwitterLayout.MaxSequence() != 4095 {
		t.Errorf("Twitter MaxNode/MaxSequence = %d/%d", TwitterLayout.MaxNode(), TwitterLayout.MaxSequence())
	}
}

func TestNewSnowflakeBadInput(t *testing.T) {
	fc := newFake(t)
	future := TwitterLayout
	future.Epoch = fc.Now().Add(time.Hour)
	bad := []struct {
		name string
		node int64
		o    *SnowflakeOptions
	}{
		{"nodeTooLarge", 1024, nil},
		{"negativeNode", -1, nil},
		{"epochInFuture", 0, &SnowflakeOptions{Layout: &future, Clock: fc}},
		{"negativeBound", 0, &SnowflakeOptions{MaxBackwards: -time.Second}},
		{"unknownPolicy", 0, &SnowflakeOptions{Backwards: BackwardsPolicy(9)}},
		{"badLayout", 0, &SnowflakeOptions{Layout: &Layout{}}},
	}
	for _, tc := range bad {
		if _, err := NewSnowflake(tc.node, tc.o); err == nil {
			t.Errorf("%s: NewSnowflake succeeded", tc.name)
		}
	}
	ended := Layout{TimeBits: 20, NodeBits: 10, SeqBits: 33, Tick: time.Millisecond, Epoch: TwitterLayout.Epoch}
	if _, err := NewSnowflake(0, &SnowflakeOptions{Layout: &ended}); !errors.Is(err, ErrTimeOverflow) {
		t.Errorf("layout past its end: %v, want ErrTimeOverflow", err)
	}
}

func TestDecodeRoundTrip(t *testing.T) {
	fc := newFake(t)
	g := mustSnowflake(t, 777, &SnowflakeOptions{Clock: fc})
	for i := 0; i < 5; i++ {
		id, err := g.Next(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		p, err := g.Decode(id)
		if err != nil {
			t.Fatal(err)
		}
		if p.Node != 777 || p.Sequence != int64(i) || !p.Time.Equal(fc.Now().Truncate(time.Millisecond)) {
			t.Fatalf("Decode(%d) = %+v, want node 777, seq %d, time %v", id, p, i, fc.Now())
		}
		back, err := g.Layout().Compose(int64(p.Time.Sub(g.Layout().Epoch)/time.Millisecond), p.Node, p.Sequence)
		if err != nil || back != id {
			t.Fatalf("Compose(Decode(%d)) = %d, %v", id, back, err)
		}
	}
	if _, err := TwitterLayout.Decode(-5); !errors.Is(err, ErrInvalidID) {
		t.Fatalf("Decode(-5) = %v", err)
	}
}

func TestSequenceExhaustionWaitsForNextTick(t *testing.T) {
	fc := newFake(t)
	g := mustSnowflake(t, 1, &SnowflakeOptions{Layout: &small, Clock: fc})
	now := fc.Now()
	var last int64
	for i := 0; i < 16; i++ {
		id, err := g.NextAt(now)
		if err != nil {
			t.Fatalf("NextAt #%d: %v", i, err)
		}
		last = id
	}
	if _, err := g.NextAt(now); !errors.Is(err, ErrSequenceExhausted) {
		t.Fatalf("17th NextAt in one tick = %v, want ErrSequenceExhausted", err)
	}
	type res struct {
		id  int64
		err error
	}
	done := make(chan res, 1)
	go func() {
		id, err := g.Next(context.Background())
		done <- res{id, err}
	}()
	if err := fc.BlockUntil(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-done:
		t.Fatalf("Next returned %v before the tick ended", r)
	default:
	}
	fc.Advance(time.Millisecond)
	r := <-done
	if r.err != nil || r.id <= last {
		t.Fatalf("Next after the tick = %d, %v; want > %d", r.id, r.err, last)
	}
	p, _ := g.Decode(r.id)
	if p.Sequence != 0 || !p.Time.Equal(now.Add(time.Millisecond)) {
		t.Fatalf("first id of the next tick decodes as %+v", p)
	}
}

func TestExhaustionWaitHonoursContext(t *testing.T) {
	fc := newFake(t)
	g := mustSnowflake(t, 1, &SnowflakeOptions{Layout: &small, Clock: fc})
	for i := 0; i < 16; i++ {
		if _, err := g.Next(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { _, err := g.Next(ctx); errc <- err }()
	if err := fc.BlockUntil(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-errc; err != context.Canceled {
		t.Fatalf("Next after cancel = %v, want context.Canceled", err)
	}
}

func TestFailOnBackwards(t *testing.T) {
	fc := newFake(t)
	g := mustSnowflake(t, 1, &SnowflakeOptions{Clock: fc, Backwards: FailOnBackwards})
	first, _ := g.Next(context.Background())
	fc.Set(fc.Now().Add(-time.Millisecond))
	if _, err := g.Next(context.Background()); !errors.Is(err, ErrClockBackwards) {
		t.Fatalf("Next with clock 1ms behind = %v, want ErrClockBackwards", err)
	}
	fc.Advance(2 * time.Millisecond)
	id, err := g.Next(context.Background())
	if err != nil || id <= first {
		t.Fatalf("Next after recovery = %d, %v", id, err)
	}
}

func TestWaitForClock(t *testing.T) {
	fc := newFake(t)
	g := mustSnowflake(t, 1, &SnowflakeOptions{Clock: fc, MaxBackwards: 100 * time.Millisecond})
	first, _ := g.Next(context.Background())
	fc.Set(fc.Now().Add(-50 * time.Millisecond))
	if _, err := g.NextAt(fc.Now()); !errors.Is(err, ErrClockBackwards) {
		t.Fatalf("NextAt behind = %v, want ErrClockBackwards (NextAt never waits)", err)
	}
	got := make(chan int64, 1)
	go func() { id, _ := g.Next(context.Background()); got <- id }()
	if err := fc.BlockUntil(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	select {
	case id := <-got:
		t.Fatalf("Next returned %d while the clock was behind", id)
	default:
	}
	fc.Advance(50 * time.Millisecond)
	if id := <-got; id <= first {
		t.Fatalf("Next after the clock caught up = %d, want > %d", id, first)
	}
	// Beyond the bound, waiting is pointless: fail at once.
	fc.Set(fc.Now().Add(-time.Second))
	if _, err := g.Next(context.Background()); !errors.Is(err, ErrClockBackwards) {
		t.Fatalf("Next 1s behind with a 100ms bound = %v, want ErrClockBackwards", err)
	}
}

func TestBorrowFromFuture(t *testing.T) {
	fc := newFake(t)
	g := mustSnowflake(t, 1, &SnowflakeOptions{Layout: &small, Clock: fc, Backwards: BorrowFromFuture, MaxBackwards: 3 * time.Millisecond})
	start := fc.Now()
	prev, _ := g.Next(context.Background())
	fc.Set(start.Add(-time.Millisecond))
	// 15 more ids fit in the last tick, then ticks +1, +2, +3 are borrowed
	// (each 16 ids); tick +3 is 4ms ahead of the clock, beyond the bound.
	for i := 0; i < 15+16+16; i++ {
		id, err := g.Next(context.Background())
		if err != nil {
			t.Fatalf("borrowed Next #%d: %v", i, err)
		}
		if id <= prev {
			t.Fatalf("borrowed id %d not above %d", id, prev)
		}
		prev = id
	}
	p, _ := g.Decode(prev)
	if !p.Time.Equal(start.Add(2 * time.Millisecond)) {
		t.Fatalf("last borrowed id is from %v, want start+2ms", p.Time.Sub(start))
	}
	if _, err := g.NextAt(fc.Now()); !errors.Is(err, ErrClockBackwards) {
		t.Fatalf("NextAt past the borrow bound = %v, want ErrClockBackwards", err)
	}
	// Next waits instead, until the clock allows another borrowed tick.
	got := make(chan int64, 1)
	go func() { id, _ := g.Next(context.Background()); got <- id }()
	if err := fc.BlockUntil(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	fc.Advance(time.Millisecond)
	if id := <-got; id <= prev {
		t.Fatalf("Next after waiting = %d, want > %d", id, prev)
	}
	fc.Set(start.Add(-time.Hour))
	if _, err := g.Next(context.Background()); !errors.Is(err, ErrClockBackwards) {
		t.Fatalf("Next an hour behind = %v, want ErrClockBackwards", err)
	}
}

// TestNeverSmallerUnderClockChaos walks the clock back and forth at random
// and checks, for every policy, that IDs strictly increase.
func TestNeverSmallerUnderClockChaos(t *testing.T) {
	for _, pol := range []BackwardsPolicy{WaitForClock, FailOnBackwards, BorrowFromFuture} {
		t.Run(pol.String(), func(t *testing.T) {
			fc := newFake(t)
			g := mustSnowflake(t, 3, &SnowflakeOptions{Layout: &small, Clock: fc, Backwards: pol, MaxBackwards: 5 * time.Millisecond})
			rng := rand.New(rand.NewPCG(1, uint64(pol)))
			base := fc.Now()
			prev, issued := int64(-1), 0
			for i := 0; i < 20000; i++ {
				fc.Set(base.Add(time.Duration(rng.IntN(40)-10) * 100 * time.Microsecond))
				base = base.Add(50 * time.Microsecond)
				id, err := g.NextAt(fc.Now())
				if err != nil {
					if !errors.Is(err, ErrClockBackwards) && !errors.Is(err, ErrSequenceExhausted) {
						t.Fatalf("unexpected error %v", err)
					}
					continue
				}
				if id <= prev {
					t.Fatalf("id %d after %d", id, prev)
				}
				prev = id
				issued++
			}
			if issued < 1000 {
				t.Fatalf("only %d ids issued; the test exercised too little", issued)
			}
		})
	}
}

// TestConcurrentUniqueAndIncreasing is the 8 goroutines × 1M IDs on
// the Twitter layout and the real clock.
func TestConcurrentUniqueAndIncreasing(t *testing.T) {
	const workers = 8
	per := 1_000_000
	if testing.Short() {
		per = 50_000
	}
	g := mustSnowflake(t, 42, nil)
	out := make([][]int64, workers)
	var wg sync.WaitGroup
	errc := make(chan error, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			ids := make([]int64, per)
			for i := range ids {
				id, err := g.Next(context.Background())
				if err != nil {
					errc <- err
					return
				}
				ids[i] = id
			}
			out[w] = ids
		}(w)
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	all := make([]int64, 0, workers*per)
	for w, ids := range out {
		for i := 1; i < len(ids); i++ {
			if ids[i] <= ids[i-1] {
				t.Fatalf("goroutine %d: id %d after %d", w, ids[i], ids[i-1])
			}
		}
		all = append(all, ids...)
	}
	slices.Sort(all)
	for i := 1; i < len(all); i++ {
		if all[i] == all[i-1] {
			t.Fatalf("duplicate id %d", all[i])
		}
	}
}

func FuzzDecodeNext(f *testing.F) {
	f.Add(int64(0), uint8(10), uint8(12), int64(1_000_000))
	f.Add(int64(5), uint8(0), uint8(22), int64(0))
	f.Add(int64(65535), uint8(16), uint8(8), int64(1<<40))
	f.Fuzz(func(t *testing.T, node int64, nodeBits, seqBits uint8, offsetMs int64) {
		nodeBits %= 24
		seqBits = 1 + seqBits%22
		l := Layout{TimeBits: 63 - nodeBits - seqBits, NodeBits: nodeBits, SeqBits: seqBits, Tick: time.Millisecond, Epoch: TwitterLayout.Epoch}
		if l.TimeBits < 16 {
			return
		}
		if node < 0 {
			node = -node
		}
		node %= l.MaxNode() + 1
		if node < 0 {
			return
		}
		if offsetMs < 0 {
			offsetMs = -offsetMs
		}
		maxMs := int64(l.Lifetime()/time.Millisecond) - 1
		if maxMs > 1<<40 {
			maxMs = 1 << 40
		}
		offsetMs %= maxMs + 1
		if offsetMs < 0 {
			return
		}
		now := l.Epoch.Add(time.Duration(offsetMs) * time.Millisecond)
		fc := clock.NewFake(now)
		g, err := NewSnowflake(node, &SnowflakeOptions{Layout: &l, Clock: fc})
		if err != nil {
			t.Fatalf("NewSnowflake(%d, %+v): %v", node, l, err)
		}
		id, err := g.NextAt(now)
		if err != nil {
			t.Fatal(err)
		}
		p, err := g.Decode(id)
		if err != nil {
			t.Fatal(err)
		}
		if p.Node != node || p.Sequence != 0 || !p.Time.Equal(now) {
			t.Fatalf("Decode(Next()) = %+v, want node %d seq 0 time %v", p, node, now)
		}
	})
}

// TestFastPathOddTickUniqueAndInTime drives Next's fast path (no division
// within a tick, a division on the first ID of a later tick) on a tick that
// is not a round number and a sequence that runs out every few IDs, from
// several goroutines on the real clock: IDs are unique, increase per
// goroutine, and their time part is never ahead of the clock.
func TestFastPathOddTickUniqueAndInTime(t *testing.T) {
	const workers, per = 4, 20_000
	l := Layout{TimeBits: 45, NodeBits: 15, SeqBits: 3, Tick: 7*time.Microsecond + 3,
		Epoch: time.Now().Add(-time.Hour).Truncate(time.Second)}
	g := mustSnowflake(t, 1, &SnowflakeOptions{Layout: &l})
	out := make([][]int64, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ids := make([]int64, 0, per)
			for range per {
				id, err := g.Next(context.Background())
				if err != nil {
					t.Error(err)
					return
				}
				ids = append(ids, id)
			}
			out[w] = ids
		}()
	}
	wg.Wait()
	end := time.Now()
	all := make([]int64, 0, workers*per)
	for w, ids := range out {
		for i := 1; i < len(ids); i++ {
			if ids[i] <= ids[i-1] {
				t.Fatalf("goroutine %d: id %d after %d", w, ids[i], ids[i-1])
			}
		}
		all = append(all, ids...)
	}
	slices.Sort(all)
	for i := 1; i < len(all); i++ {
		if all[i] == all[i-1] {
			t.Fatalf("duplicate id %d", all[i])
		}
	}
	last, err := g.Decode(all[len(all)-1])
	if err != nil {
		t.Fatal(err)
	}
	if last.Time.After(end) {
		t.Fatalf("last id's time %v is after the clock %v", last.Time, end)
	}
	if last.Node != 1 {
		t.Fatalf("node = %d, want 1", last.Node)
	}
}
