package memorycache

import (
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/scalekit-go/scalekit/internal/mix"
)

func testNode(k int) *node[int, int] {
	return &node[int, int]{key: k, value: k, hash: mix.SplitMix64(uint64(k))}
}

// The index against a map model under random inserts, replacements and
// removals: every key is found exactly when the model has it, tombstones
// never hide a key, and the table stays under 3/4 full.
func TestIndexModel(t *testing.T) {
	var tab atomic.Pointer[table[int, int]]
	var x index[int, int]
	x.init(&tab, minTableSize)
	model := map[int]*node[int, int]{}
	r := rand.New(rand.NewPCG(1, 2))
	for op := range 20000 {
		k := r.IntN(300)
		cur := tab.Load().get(mix.SplitMix64(uint64(k)), k)
		if cur != model[k] {
			t.Fatalf("op %d: get(%d) = %p, model %p", op, k, cur, model[k])
		}
		switch {
		case cur == nil:
			n := testNode(k)
			x.insert(n)
			model[k] = n
		case r.IntN(3) == 0:
			n := testNode(k)
			x.replace(cur, n)
			model[k] = n
		default:
			x.remove(cur)
			delete(model, k)
		}
		tb := tab.Load()
		if x.live != len(model) || x.used*4 > len(tb.slots)*3 || x.used < x.live {
			t.Fatalf("op %d: live %d (model %d), used %d, slots %d", op, x.live, len(model), x.used, len(tb.slots))
		}
	}
	seen := 0
	x.each(func(n *node[int, int]) {
		if model[n.key] != n {
			t.Fatalf("each yielded stale node %d", n.key)
		}
		seen++
	})
	if seen != len(model) {
		t.Fatalf("each saw %d nodes, model has %d", seen, len(model))
	}
}

// Lock-free readers never miss a key that stays present while a writer
// churns other keys through the same table (tombstones, tombstone reuse,
// growth and clean-up rehashes all happen under them).
func TestIndexStableKeysVisibleDuringChurn(t *testing.T) {
	var tab atomic.Pointer[table[int, int]]
	var x index[int, int]
	x.init(&tab, minTableSize)
	var mu sync.Mutex
	const stable = 64
	for k := range stable {
		x.insert(testNode(k))
	}
	var stop atomic.Bool
	var misses atomic.Int64
	var wg sync.WaitGroup
	for g := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; !stop.Load(); i++ {
				k := (i + g*7) % stable
				if n := tab.Load().get(mix.SplitMix64(uint64(k)), k); n == nil || n.key != k {
					misses.Add(1)
				}
			}
		}()
	}
	r := rand.New(rand.NewPCG(3, 4))
	live := map[int]*node[int, int]{}
	for range 30000 {
		k := stable + r.IntN(2000)
		mu.Lock()
		if n, ok := live[k]; ok {
			x.remove(n)
			delete(live, k)
		} else {
			n := testNode(k)
			x.insert(n)
			live[k] = n
		}
		mu.Unlock()
	}
	stop.Store(true)
	wg.Wait()
	if m := misses.Load(); m != 0 {
		t.Fatalf("readers missed a present key %d times", m)
	}
}

func TestInplaceWords(t *testing.T) {
	type pair struct{ A, B int64 }
	type withPtr struct {
		A int64
		P *int
	}
	type small struct{ A, B int32 }
	for name, got := range map[string][2]int{
		"uint64":  {inplaceWords[uint64](), 1},
		"float64": {inplaceWords[float64](), 1},
		"pair":    {inplaceWords[pair](), 2},
		"[4]int":  {inplaceWords[[4]int](), 4},
		"string":  {inplaceWords[string](), 0},
		"[]byte":  {inplaceWords[[]byte](), 0},
		"withPtr": {inplaceWords[withPtr](), 0},
		"int32":   {inplaceWords[int32](), 0},
		"small":   {inplaceWords[small](), 0}, // 4-byte aligned
		"[64]int": {inplaceWords[[64]int](), 0},
		"any":     {inplaceWords[any](), 0},
	} {
		if got[0] != got[1] {
			t.Errorf("inplaceWords[%s] = %d, want %d", name, got[0], got[1])
		}
	}
}
