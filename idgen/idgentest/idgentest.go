package idgentest

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/scalekit-go/scalekit/idgen"
	"github.com/scalekit-go/scalekit/idgen/driver"
)

// SourceFactory returns a handle on the source under test. Every call made
// during one Run must return a handle on the same shared state (a new
// client of the same server, or the same in-memory value), as several
// processes would have.
type SourceFactory func(t *testing.T) driver.SegmentSource

// RunSegmentSource runs the SegmentSource conformance tests as sub-tests of
// t. Sequence names are derived from the sub-test names, so the engine may
// be shared with other tests.
func RunSegmentSource(t *testing.T, newSource SourceFactory) {
	t.Run("FirstBlockStartsAtOne", func(t *testing.T) {
		src := newSource(t)
		start, err := src.NextBlock(context.Background(), seqName(t), 10)
		if err != nil {
			t.Fatalf("NextBlock: %v", err)
		}
		if start != 1 {
			t.Fatalf("first block of a new sequence starts at %d, want 1", start)
		}
	})
	t.Run("BlocksAreDisjointAndIncreasing", func(t *testing.T) {
		src := newSource(t)
		name := seqName(t)
		prevEnd := int64(0)
		for i, size := range []int64{1, 7, 1000, 3, 1 << 20} {
			start, err := src.NextBlock(context.Background(), name, size)
			if err != nil {
				t.Fatalf("NextBlock #%d: %v", i, err)
			}
			if start < prevEnd+1 {
				t.Fatalf("block #%d starts at %d, overlapping the previous block ending at %d", i, start, prevEnd)
			}
			prevEnd = start + size - 1
		}
	})
	t.Run("NamesAreIndependent", func(t *testing.T) {
		src := newSource(t)
		a, b := seqName(t)+"-a", seqName(t)+"-b"
		if _, err := src.NextBlock(context.Background(), a, 100); err != nil {
			t.Fatal(err)
		}
		start, err := src.NextBlock(context.Background(), b, 100)
		if err != nil {
			t.Fatal(err)
		}
		if start != 1 {
			t.Fatalf("sequence %q starts at %d after use of %q; names must not share a counter", b, start, a)
		}
	})
	t.Run("ConcurrentFetchesFromTwoHandlesAreDisjoint", func(t *testing.T) {
		handles := []driver.SegmentSource{newSource(t), newSource(t)}
		name := seqName(t)
		const workers, perWorker, size = 8, 40, 50
		var mu sync.Mutex
		var starts []int64
		var wg sync.WaitGroup
		errc := make(chan error, workers)
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func(src driver.SegmentSource) {
				defer wg.Done()
				for i := 0; i < perWorker; i++ {
					s, err := src.NextBlock(context.Background(), name, size)
					if err != nil {
						errc <- err
						return
					}
					mu.Lock()
					starts = append(starts, s)
					mu.Unlock()
				}
			}(handles[w%2])
		}
		wg.Wait()
		close(errc)
		for err := range errc {
			t.Fatalf("NextBlock: %v", err)
		}
		sort.Slice(starts, func(i, j int) bool { return starts[i] < starts[j] })
		for i := 1; i < len(starts); i++ {
			if starts[i] < starts[i-1]+size {
				t.Fatalf("blocks starting at %d and %d (size %d) overlap", starts[i-1], starts[i], size)
			}
		}
	})
	t.Run("SegmentsSharingTheSourceNeverDuplicate", func(t *testing.T) {
		name := seqName(t)
		const gens, perGen = 4, 5000
		ids := make([][]int64, gens)
		var wg sync.WaitGroup
		errc := make(chan error, gens)
		for g := 0; g < gens; g++ {
			seg, err := idgen.NewSegment(newSource(t), name, &idgen.SegmentOptions{BlockSize: 97})
			if err != nil {
				t.Fatal(err)
			}
			defer seg.Close()
			wg.Add(1)
			go func(g int, seg *idgen.Segment) {
				defer wg.Done()
				out := make([]int64, 0, perGen)
				for i := 0; i < perGen; i++ {
					id, err := seg.Next(context.Background())
					if err != nil {
						errc <- err
						return
					}
					out = append(out, id)
				}
				ids[g] = out
			}(g, seg)
		}
		wg.Wait()
		close(errc)
		for err := range errc {
			t.Fatalf("Segment.Next: %v", err)
		}
		var all []int64
		for g, list := range ids {
			for i := 1; i < len(list); i++ {
				if list[i] <= list[i-1] {
					t.Fatalf("generator %d: id %d after %d; one Segment's ids must increase", g, list[i], list[i-1])
				}
			}
			all = append(all, list...)
		}
		if dup, ok := FindDuplicate(all); ok {
			t.Fatalf("id %d handed out twice by Segments sharing one source", dup)
		}
	})
	t.Run("CanceledContext", func(t *testing.T) {
		src := newSource(t)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := src.NextBlock(ctx, seqName(t), 10); err == nil {
			t.Fatal("NextBlock with a canceled context succeeded")
		}
	})
}

// FindDuplicate sorts ids in place and reports a value that occurs twice.
func FindDuplicate(ids []int64) (int64, bool) {
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	for i := 1; i < len(ids); i++ {
		if ids[i] == ids[i-1] {
			return ids[i], true
		}
	}
	return 0, false
}

func seqName(t *testing.T) string {
	return fmt.Sprintf("idgentest/%s/%d", t.Name(), time.Now().UnixNano())
}

// NodeHarness describes a NodeIDs backend under test.
type NodeHarness struct {
	// New returns a handle on the driver; handles returned during one Run
	// share the engine's state.
	New func(t *testing.T) driver.NodeIDs
	// TTL is the lease TTL the suite uses; short for real engines (e.g.
	// 300ms), anything for fake clocks.
	TTL time.Duration
	// Wait lets d pass: advance a fake clock, or sleep on the real one.
	Wait func(t *testing.T, d time.Duration)
}

// RunNodeIDs runs the NodeIDs conformance tests as sub-tests of t.
func RunNodeIDs(t *testing.T, h NodeHarness) {
	ctx := context.Background()
	t.Run("DistinctIDsUntilExhausted", func(t *testing.T) {
		d, ns := h.New(t), seqName(t)
		seen := map[int64]bool{}
		for i := 0; i < 4; i++ {
			id, _, err := d.Acquire(ctx, ns, 3, h.TTL*10)
			if err != nil {
				t.Fatalf("Acquire #%d of 4 free ids: %v", i, err)
			}
			if id < 0 || id > 3 || seen[id] {
				t.Fatalf("Acquire #%d returned id %d (seen %v); want a fresh id in [0,3]", i, id, seen)
			}
			seen[id] = true
		}
		if _, _, err := h.New(t).Acquire(ctx, ns, 3, h.TTL*10); !errors.Is(err, driver.ErrNoneFree) {
			t.Fatalf("Acquire with all ids held = %v, want ErrNoneFree", err)
		}
	})
	t.Run("ReleaseFreesTheID", func(t *testing.T) {
		d, ns := h.New(t), seqName(t)
		id, tok, err := d.Acquire(ctx, ns, 0, h.TTL*10)
		if err != nil {
			t.Fatal(err)
		}
		if err := d.Release(ctx, ns, id, tok); err != nil {
			t.Fatalf("Release: %v", err)
		}
		if id2, _, err := h.New(t).Acquire(ctx, ns, 0, h.TTL*10); err != nil || id2 != id {
			t.Fatalf("Acquire after Release = %d, %v; want %d", id2, err, id)
		}
		if err := d.Release(ctx, ns, id, tok); !errors.Is(err, driver.ErrLeaseLost) {
			t.Fatalf("second Release = %v, want ErrLeaseLost", err)
		}
	})
	t.Run("WrongTokenIsRefused", func(t *testing.T) {
		d, ns := h.New(t), seqName(t)
		id, tok, err := d.Acquire(ctx, ns, 0, h.TTL*10)
		if err != nil {
			t.Fatal(err)
		}
		if err := d.Renew(ctx, ns, id, tok+"x", h.TTL); !errors.Is(err, driver.ErrLeaseLost) {
			t.Fatalf("Renew with another token = %v, want ErrLeaseLost", err)
		}
		if err := d.Release(ctx, ns, id, tok+"x"); !errors.Is(err, driver.ErrLeaseLost) {
			t.Fatalf("Release with another token = %v, want ErrLeaseLost", err)
		}
		if err := d.Renew(ctx, ns, id, tok, h.TTL*10); err != nil {
			t.Fatalf("Renew by the holder after refused attempts: %v", err)
		}
	})
	t.Run("RenewKeepsAndExpiryFrees", func(t *testing.T) {
		d, ns := h.New(t), seqName(t)
		id, tok, err := d.Acquire(ctx, ns, 0, h.TTL)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 3; i++ {
			h.Wait(t, h.TTL/2)
			if err := d.Renew(ctx, ns, id, tok, h.TTL); err != nil {
				t.Fatalf("Renew #%d within the TTL: %v", i, err)
			}
		}
		if _, _, err := h.New(t).Acquire(ctx, ns, 0, h.TTL); !errors.Is(err, driver.ErrNoneFree) {
			t.Fatalf("Acquire of a renewed id = %v, want ErrNoneFree", err)
		}
		h.Wait(t, h.TTL+h.TTL/2)
		id2, _, err := h.New(t).Acquire(ctx, ns, 0, h.TTL)
		if err != nil || id2 != id {
			t.Fatalf("Acquire after expiry = %d, %v; want %d", id2, err, id)
		}
		if err := d.Renew(ctx, ns, id, tok, h.TTL); !errors.Is(err, driver.ErrLeaseLost) {
			t.Fatalf("Renew of an expired, re-leased id = %v, want ErrLeaseLost", err)
		}
	})
	t.Run("NamespacesAreIndependent", func(t *testing.T) {
		d := h.New(t)
		ns := seqName(t)
		if _, _, err := d.Acquire(ctx, ns+"-a", 0, h.TTL*10); err != nil {
			t.Fatal(err)
		}
		if _, _, err := d.Acquire(ctx, ns+"-b", 0, h.TTL*10); err != nil {
			t.Fatalf("Acquire in another namespace: %v", err)
		}
	})
	t.Run("SnowflakesOnLeasedIDsDoNotCollide", func(t *testing.T) {
		ns := seqName(t)
		layout := idgen.Layout{TimeBits: 41, NodeBits: 2, SeqBits: 20, Tick: time.Millisecond, Epoch: idgen.TwitterLayout.Epoch}
		var all []int64
		for i := 0; i < 4; i++ {
			lease, err := idgen.AcquireNode(ctx, h.New(t), ns, layout.MaxNode(), &idgen.NodeLeaseOptions{TTL: h.TTL * 10})
			if err != nil {
				t.Fatalf("AcquireNode #%d: %v", i, err)
			}
			defer lease.Release(ctx)
			g, err := idgen.NewSnowflake(lease.ID(), &idgen.SnowflakeOptions{Layout: &layout, Lease: lease})
			if err != nil {
				t.Fatal(err)
			}
			for j := 0; j < 1000; j++ {
				id, err := g.Next(ctx)
				if err != nil {
					t.Fatal(err)
				}
				all = append(all, id)
			}
		}
		if dup, ok := FindDuplicate(all); ok {
			t.Fatalf("id %d issued by two generators on leased node ids", dup)
		}
	})
}
