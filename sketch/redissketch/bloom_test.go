package redissketch_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/scalekit-go/scalekit/internal/testenv"
	"github.com/scalekit-go/scalekit/sketch"
	"github.com/scalekit-go/scalekit/sketch/redissketch"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// newClient returns a client of its own (a separate connection pool, as a
// separate instance of a service would have) on url.
func newClient(t testing.TB, url string) *redis.Client {
	t.Helper()
	opt, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(opt)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func newBloom(t testing.TB, c redis.UniversalClient, prefix, name string, n uint64, p float64) *redissketch.Bloom {
	t.Helper()
	b, err := redissketch.NewBloom(c, name, n, p, &redissketch.Options{KeyPrefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func keyOf(i uint64) []byte { return binary.LittleEndian.AppendUint64(nil, i) }

func batch(from, n uint64) [][]byte {
	keys := make([][]byte, n)
	for i := range keys {
		keys[i] = keyOf(from + uint64(i))
	}
	return keys
}

// Two instances share one filter: what one adds the other sees, the false
// positive rate at capacity is within 1.2× of the target, and the bits in
// Redis equal those of a local sketch.Bloom fed the same keys.
func TestBloomSharedByTwoInstances(t *testing.T) {
	ctx := context.Background()
	url, prefix := testenv.RedisURL(t), testenv.Prefix(t)
	const n, p = 20_000, 0.01
	a := newBloom(t, newClient(t, url), prefix, "users", n, p)
	b := newBloom(t, newClient(t, url), prefix, "users", n, p)
	local, _ := sketch.NewBloom(n, p)
	for from := uint64(0); from < n; from += 1000 {
		keys := batch(from, 1000)
		inst := a
		if from%2000 != 0 {
			inst = b // the instances take turns
		}
		if _, err := inst.AddMany(ctx, keys); err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			local.Add(k)
		}
	}
	for _, inst := range []*redissketch.Bloom{a, b} {
		res, err := inst.TestMany(ctx, batch(0, n))
		if err != nil {
			t.Fatal(err)
		}
		if i := slices.Index(res, false); i >= 0 {
			t.Fatalf("added key %d tests absent", i)
		}
	}
	fps, probes := 0, uint64(50_000)
	for from := uint64(1 << 40); from < 1<<40+probes; from += 5000 {
		res, err := b.TestMany(ctx, batch(from, 5000))
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range res {
			if r {
				fps++
			}
		}
	}
	rate := float64(fps) / float64(probes)
	t.Logf("m=%d k=%d: false-positive rate %.5f (target %v)", a.Bits(), a.Hashes(), rate, p)
	if rate > 1.2*p {
		t.Fatalf("false-positive rate %.5f exceeds 1.2 × target %v", rate, p)
	}
	snap, err := b.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(snap.Words(), local.Words()) {
		t.Fatal("bits in Redis differ from a local sketch.Bloom fed the same keys")
	}
	est, err := a.EstimatedCount(ctx)
	if err != nil || est < n*95/100 || est > n*105/100 {
		t.Fatalf("EstimatedCount = %d, %v; want within 5%% of %d", est, err, n)
	}
	// Single-key calls, from either instance.
	if err := a.AddString(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if ok, err := b.TestString(ctx, "alice"); err != nil || !ok {
		t.Fatalf("b does not see a's add: %v %v", ok, err)
	}
	if err := a.Clear(ctx); err != nil {
		t.Fatal(err)
	}
	if ok, err := b.TestString(ctx, "alice"); err != nil || ok {
		t.Fatalf("after Clear: %v %v", ok, err)
	}
	if empty, err := b.Snapshot(ctx); err != nil || empty.EstimatedCount() != 0 {
		t.Fatalf("snapshot of a cleared filter: %v", err)
	}
}

// Instances racing to claim the same names: each name is claimed once.
func TestBloomTestAndAddOneWinnerAcrossInstances(t *testing.T) {
	ctx := context.Background()
	url, prefix := testenv.RedisURL(t), testenv.Prefix(t)
	insts := []*redissketch.Bloom{
		newBloom(t, newClient(t, url), prefix, "names", 10_000, 1e-6),
		newBloom(t, newClient(t, url), prefix, "names", 10_000, 1e-6),
	}
	const names = 300
	var wg sync.WaitGroup
	var mu sync.Mutex
	claimed := map[string]int{}
	for g := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range names {
				name := "user-" + strconv.Itoa((i+g*37)%names)
				seen, err := insts[g%2].TestAndAdd(ctx, []byte(name))
				if err != nil {
					t.Error(err)
					return
				}
				if !seen {
					mu.Lock()
					claimed[name]++
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	for i := range names {
		if n := claimed["user-"+strconv.Itoa(i)]; n != 1 {
			t.Errorf("user-%d claimed %d times", i, n)
		}
	}
}

// A second process shares the filter: the parent and the child claim the
// same names at once (they start together on a signal), and every name is
// claimed by exactly one of them.
func TestBloomSharedAcrossProcesses(t *testing.T) {
	const names = 2000
	claim := func(b *redissketch.Bloom) int {
		firsts := 0
		for i := range names {
			seen, err := b.TestAndAdd(context.Background(), []byte("n"+strconv.Itoa(i)))
			if err != nil {
				t.Fatal(err)
			}
			if !seen {
				firsts++
			}
		}
		return firsts
	}
	if testenv.ChildRole() == "claimer" {
		b := newBloom(t, newClient(t, os.Getenv("SK_URL")), os.Getenv("SK_PREFIX"), "procs", 10_000, 1e-6)
		_, _ = b.TestAndAdd(context.Background(), []byte("warm-up")) // connect, load the script
		fmt.Println("READY")
		bufio.NewScanner(os.Stdin).Scan() // wait for the start signal
		fmt.Printf("FIRSTS %d\n", claim(b))
		return
	}
	url, prefix := testenv.RedisURL(t), testenv.Prefix(t)
	cmd := testenv.Child(t, "TestBloomSharedAcrossProcesses", "claimer", "SK_URL="+url, "SK_PREFIX="+prefix)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	testenv.StartChild(t, cmd)
	lines := bufio.NewScanner(stdout)
	for lines.Scan() && lines.Text() != "READY" {
	}
	b := newBloom(t, newClient(t, url), prefix, "procs", 10_000, 1e-6)
	_, _ = b.TestAndAdd(context.Background(), []byte("warm-up"))
	if _, err := io.WriteString(stdin, "go\n"); err != nil {
		t.Fatal(err)
	}
	mine := claim(b)
	theirs := -1
	var rest []string
	for lines.Scan() {
		rest = append(rest, lines.Text())
		fmt.Sscanf(lines.Text(), "FIRSTS %d", &theirs)
	}
	if err := cmd.Wait(); err != nil || theirs < 0 {
		t.Fatalf("child: %v\n%s", err, strings.Join(rest, "\n"))
	}
	t.Logf("parent claimed %d, child %d", mine, theirs)
	if mine+theirs != names {
		t.Fatalf("parent claimed %d and child %d names, want %d in total", mine, theirs, names)
	}
}

func TestBloomShapeMismatch(t *testing.T) {
	ctx := context.Background()
	c, prefix := testenv.RedisClient(t), testenv.Prefix(t)
	a := newBloom(t, c, prefix, "shape", 1000, 0.01)
	other := newBloom(t, c, prefix, "shape", 5000, 0.01)
	if err := a.AddString(ctx, "x"); err != nil {
		t.Fatal(err)
	}
	check := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, sketch.ErrIncompatible) {
			t.Fatalf("%s with another shape: err = %v, want ErrIncompatible", what, err)
		}
		t.Log(err)
	}
	check("Add", other.AddString(ctx, "y"))
	_, err := other.TestString(ctx, "x")
	check("Test", err)
	_, err = other.TestAndAdd(ctx, []byte("x"))
	check("TestAndAdd", err)
	_, err = other.Snapshot(ctx)
	check("Snapshot", err)
	local, _ := sketch.NewBloom(5000, 0.01)
	check("Merge", other.Merge(ctx, local))
	wrong, _ := sketch.NewBloom(999, 0.01)
	check("Merge of a local filter of another shape", a.Merge(ctx, wrong))
	check("Merge of nil", a.Merge(ctx, nil))
	// The failed calls left the filter alone.
	snap, err := a.Snapshot(ctx)
	if err != nil || !snap.TestString("x") || snap.TestString("y") {
		t.Fatalf("filter changed by rejected calls: %v", err)
	}
}

func TestBloomMergeLocal(t *testing.T) {
	ctx := context.Background()
	c, prefix := testenv.RedisClient(t), testenv.Prefix(t)
	shared := newBloom(t, c, prefix, "merge", 1000, 0.01)
	if err := shared.AddString(ctx, "remote"); err != nil {
		t.Fatal(err)
	}
	local, _ := sketch.NewBloom(1000, 0.01)
	for i := range 100 {
		local.AddString("local-" + strconv.Itoa(i))
	}
	if err := shared.Merge(ctx, local); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"remote", "local-0", "local-99"} {
		if ok, err := shared.TestString(ctx, k); err != nil || !ok {
			t.Fatalf("%s after merge: %v %v", k, ok, err)
		}
	}
	snap, _ := shared.Snapshot(ctx)
	local.AddString("remote")
	if !slices.Equal(snap.Words(), local.Words()) {
		t.Fatal("merged filter is not the union of both")
	}
	// Merging into a filter never written creates it.
	fresh := newBloom(t, c, prefix, "merge-fresh", 1000, 0.01)
	if err := fresh.Merge(ctx, local); err != nil {
		t.Fatal(err)
	}
	if ok, _ := fresh.TestString(ctx, "local-5"); !ok {
		t.Fatal("merge into an empty filter lost keys")
	}
}

func TestBloomBadInputAndRedisErrors(t *testing.T) {
	ctx := context.Background()
	c, prefix := testenv.RedisClient(t), testenv.Prefix(t)
	if _, err := redissketch.NewBloom(nil, "x", 10, 0.1, nil); err == nil {
		t.Error("nil client accepted")
	}
	for _, tc := range []struct {
		name string
		n    uint64
		p    float64
	}{{"", 10, 0.1}, {"x", 0, 0.1}, {"x", 10, 0}, {"x", 10, 1.5}, {"x", 1 << 31, 1e-9}} {
		if _, err := redissketch.NewBloom(c, tc.name, tc.n, tc.p, nil); !errors.Is(err, sketch.ErrInvalidParameter) {
			t.Errorf("NewBloom(%q, %d, %v) err = %v, want ErrInvalidParameter", tc.name, tc.n, tc.p, err)
		}
	}
	for _, mk := range [][2]uint64{{0, 3}, {redissketch.MaxBloomBits + 1, 3}, {100, 0}, {100, 65}} {
		if _, err := redissketch.NewBloomWithSize(c, "x", mk[0], mk[1], nil); !errors.Is(err, sketch.ErrInvalidParameter) {
			t.Errorf("NewBloomWithSize(%d, %d) err = %v, want ErrInvalidParameter", mk[0], mk[1], err)
		}
	}
	b := newBloom(t, c, prefix, "wrongtype", 100, 0.1)
	if !strings.HasSuffix(b.Key(), "{wrongtype}:bloom") || b.Bits() == 0 || b.Hashes() == 0 {
		t.Fatalf("key %q, m=%d k=%d", b.Key(), b.Bits(), b.Hashes())
	}
	// The bits key holds a list: Redis's WRONGTYPE error is returned.
	if err := c.LPush(ctx, b.Key(), "x").Err(); err != nil {
		t.Fatal(err)
	}
	err := b.AddString(ctx, "k")
	if err == nil || !strings.Contains(err.Error(), "WRONGTYPE") {
		t.Fatalf("Add on a list key: err = %v", err)
	}
	local, _ := sketch.NewBloom(100, 0.1)
	if err := b.Merge(ctx, local); err == nil || !strings.Contains(err.Error(), "WRONGTYPE") {
		t.Fatalf("Merge into a list key: err = %v", err)
	}
	if n, _ := c.Exists(ctx, b.Key()+":merge").Result(); n != 0 {
		t.Fatal("failed merge left its scratch key behind")
	}
	if _, err := b.EstimatedCount(ctx); err == nil {
		t.Fatal("EstimatedCount on a list key succeeded")
	}
	if res, err := b.TestMany(ctx, nil); err != nil || res != nil {
		t.Fatalf("empty batch: %v %v", res, err)
	}
	// Cancelled context: the error is the context's, unwrapped.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	ok := newBloom(t, c, prefix, "cancel", 100, 0.1)
	if _, err := ok.TestString(cctx, "k"); err != context.Canceled {
		t.Fatalf("cancelled Test: err = %v", err)
	}
	if err := ok.AddString(cctx, "k"); err != context.Canceled {
		t.Fatalf("cancelled Add: err = %v", err)
	}
	if _, err := ok.Snapshot(cctx); err != context.Canceled {
		t.Fatalf("cancelled Snapshot: err = %v", err)
	}
	if _, err := newHLL(t, c, prefix, "cancel").Add(cctx, "k"); err != context.Canceled {
		t.Fatalf("cancelled PFADD: err = %v", err)
	}
	// A filter whose string is longer than m bits is reported as corrupt.
	big := newBloom(t, c, prefix, "toolong", 100, 0.1)
	if err := c.Set(ctx, big.Key(), strings.Repeat("x", 100), 0).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := big.Snapshot(ctx); !errors.Is(err, sketch.ErrCorrupt) {
		t.Fatalf("oversized bit string: err = %v, want ErrCorrupt", err)
	}
}
