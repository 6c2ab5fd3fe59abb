package sagatest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/scalekit-go/scalekit/lock"
	lockdriver "github.com/scalekit-go/scalekit/lock/driver"
	"github.com/scalekit-go/scalekit/lock/memlock"
	"github.com/scalekit-go/scalekit/saga"
	"github.com/scalekit-go/scalekit/saga/driver"
)

// Backend is what a saga backend provides: the saga log and the 2PC
// decision log.
type Backend interface {
	driver.Log
	driver.TxLog
}

// Harness describes the backend under test.
type Harness struct {
	// New returns a fresh, empty backend (required). Each sub-test calls
	// it once.
	New func(t *testing.T) Backend
	// Locker returns the lock backend that orchestrators in one sub-test
	// share (default: one memlock per sub-test).
	Locker func(t *testing.T) lockdriver.Locker
}

// Run runs the conformance suite against h.
func Run(t *testing.T, h Harness) {
	if h.New == nil {
		t.Fatal("sagatest: Harness.New is nil")
	}
	if h.Locker == nil {
		h.Locker = func(*testing.T) lockdriver.Locker { return memlock.New(nil) }
	}
	tests := []struct {
		name string
		fn   func(*testing.T, Harness)
	}{
		{"CreateGetUpdate", testCreateGetUpdate},
		{"Fencing", testFencing},
		{"List", testList},
		{"TxDecideFirstWins", testDecide},
		{"TxDecideRace", testDecideRace},
		{"TxFinishList", testTxList},
		{"SagaCompletes", testCompletes},
		{"SagaCompensates", testCompensates},
		{"TakeoverAfterCrash", testTakeover},
		{"StaleOwnerFenced", testStaleOwner},
		{"SharedRecovery", testSharedRecovery},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, h) })
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func rec(id string, fence int64) driver.Record {
	return driver.Record{ID: id, Name: "s", Data: []byte(`{"x":1}`), State: driver.Running, Fence: fence,
		Steps: []driver.Step{{Name: "a", Status: driver.StepStarted}, {Name: "b"}}}
}

func testCreateGetUpdate(t *testing.T, h Harness) {
	ctx, b := ctxT(t), h.New(t)
	if err := b.Create(ctx, rec("s1", 1)); err != nil {
		t.Fatalf("Create: %v", err)
	}
	if err := b.Create(ctx, rec("s1", 1)); !errors.Is(err, driver.ErrExists) {
		t.Fatalf("second Create = %v, want ErrExists", err)
	}
	got, err := b.Get(ctx, "s1")
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	want := rec("s1", 1)
	if got.Name != "s" || string(got.Data) != string(want.Data) || got.State != driver.Running || !slices.Equal(got.Steps, want.Steps) || got.Fence != 1 {
		t.Fatalf("Get = %+v, want %+v", got, want)
	}
	if got.Created.IsZero() || got.Updated.IsZero() {
		t.Fatalf("Get: Created/Updated not set: %+v", got)
	}
	upd := rec("s1", 1)
	upd.Data, upd.Name = []byte("ignored"), "ignored"
	upd.State, upd.Error = driver.Compensating, "step b failed"
	upd.Steps[1] = driver.Step{Name: "b", Status: driver.StepFailed, Attempts: 3, Error: "no"}
	if err := b.Update(ctx, upd); err != nil {
		t.Fatalf("Update: %v", err)
	}
	got, _ = b.Get(ctx, "s1")
	if got.State != driver.Compensating || got.Error != "step b failed" || got.Steps[1] != upd.Steps[1] {
		t.Fatalf("after Update: %+v", got)
	}
	if string(got.Data) != `{"x":1}` || got.Name != "s" {
		t.Fatalf("Update changed Data or Name: %+v", got)
	}
	if _, err := b.Get(ctx, "nope"); !errors.Is(err, driver.ErrNotFound) {
		t.Fatalf("Get(unknown) = %v, want ErrNotFound", err)
	}
	if err := b.Update(ctx, rec("nope", 1)); !errors.Is(err, driver.ErrNotFound) {
		t.Fatalf("Update(unknown) = %v, want ErrNotFound", err)
	}
}

func testFencing(t *testing.T, h Harness) {
	ctx, b := ctxT(t), h.New(t)
	if err := b.Create(ctx, rec("s1", 5)); err != nil {
		t.Fatal(err)
	}
	r := rec("s1", 4)
	r.State = driver.Completed
	if err := b.Update(ctx, r); !errors.Is(err, driver.ErrFenced) {
		t.Fatalf("Update with an older token = %v, want ErrFenced", err)
	}
	if got, _ := b.Get(ctx, "s1"); got.State != driver.Running {
		t.Fatalf("fenced Update changed the record: %+v", got)
	}
	r.Fence = 5
	if err := b.Update(ctx, r); err != nil {
		t.Fatalf("Update with the same token: %v", err)
	}
	r.Fence, r.State = 9, driver.Compensating
	if err := b.Update(ctx, r); err != nil {
		t.Fatalf("Update with a newer token: %v", err)
	}
	r.Fence, r.State = 5, driver.Completed
	if err := b.Update(ctx, r); !errors.Is(err, driver.ErrFenced) {
		t.Fatalf("Update with the superseded token = %v, want ErrFenced", err)
	}
	if got, _ := b.Get(ctx, "s1"); got.State != driver.Compensating || got.Fence != 9 {
		t.Fatalf("record %+v, want compensating with fence 9", got)
	}
}

func testList(t *testing.T, h Harness) {
	ctx, b := ctxT(t), h.New(t)
	states := []driver.State{driver.Running, driver.Compensating, driver.Completed, driver.Stuck, driver.Compensated}
	for i := 0; i < 10; i++ {
		r := rec(fmt.Sprintf("s%02d", i), 1)
		if err := b.Create(ctx, r); err != nil {
			t.Fatal(err)
		}
		r.State = states[i%len(states)]
		if err := b.Update(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	all, err := b.List(ctx, driver.Filter{})
	if err != nil || len(all) != 10 {
		t.Fatalf("List(all) = %d records, %v", len(all), err)
	}
	for i := 1; i < len(all); i++ {
		if all[i-1].ID >= all[i].ID {
			t.Fatalf("List not in id order: %s before %s", all[i-1].ID, all[i].ID)
		}
	}
	act, err := b.List(ctx, driver.Filter{States: []driver.State{driver.Running, driver.Compensating}})
	if err != nil || len(act) != 4 {
		t.Fatalf("List(running, compensating) = %d, %v; want 4", len(act), err)
	}
	for _, r := range act {
		if r.State != driver.Running && r.State != driver.Compensating {
			t.Fatalf("List returned state %s", r.State)
		}
	}
	page, err := b.List(ctx, driver.Filter{After: "s03", Limit: 3})
	if err != nil || len(page) != 3 || page[0].ID != "s04" || page[2].ID != "s06" {
		t.Fatalf("List(after s03, limit 3) = %v, %v", ids(page), err)
	}
	old, err := b.List(ctx, driver.Filter{UpdatedBefore: time.Now().Add(-time.Hour)})
	if err != nil || len(old) != 0 {
		t.Fatalf("List(updated an hour ago) = %v, %v", ids(old), err)
	}
	recent, err := b.List(ctx, driver.Filter{UpdatedBefore: time.Now().Add(time.Hour)})
	if err != nil || len(recent) != 10 {
		t.Fatalf("List(updated before in an hour) = %d, %v", len(recent), err)
	}
}

func ids(rs []driver.Record) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.ID)
	}
	return out
}

func testDecide(t *testing.T, h Harness) {
	ctx, b := ctxT(t), h.New(t)
	if err := b.Begin(ctx, driver.Tx{ID: "t1", Participants: []string{"p1", "p2"}}); err != nil {
		t.Fatal(err)
	}
	if err := b.Begin(ctx, driver.Tx{ID: "t1"}); !errors.Is(err, driver.ErrExists) {
		t.Fatalf("second Begin = %v, want ErrExists", err)
	}
	tx, err := b.GetTx(ctx, "t1")
	if err != nil || tx.Decision != driver.None || !slices.Equal(tx.Participants, []string{"p1", "p2"}) || tx.Finished {
		t.Fatalf("GetTx = %+v, %v", tx, err)
	}
	if d, err := b.Decide(ctx, "t1", driver.Commit); err != nil || d != driver.Commit {
		t.Fatalf("Decide(commit) = %v, %v", d, err)
	}
	if d, err := b.Decide(ctx, "t1", driver.Abort); err != nil || d != driver.Commit {
		t.Fatalf("Decide(abort) after commit = %v, %v; the first decision must win", d, err)
	}
	if _, err := b.Decide(ctx, "t2", driver.Commit); !errors.Is(err, driver.ErrNotFound) {
		t.Fatalf("Decide(commit) of an unknown tx = %v, want ErrNotFound", err)
	}
	if d, err := b.Decide(ctx, "t3", driver.Abort); err != nil || d != driver.Abort {
		t.Fatalf("Decide(abort) of an unknown tx = %v, %v", d, err)
	}
	if d, err := b.Decide(ctx, "t3", driver.Commit); err != nil || d != driver.Abort {
		t.Fatalf("Decide(commit) after a presumed abort = %v, %v; want abort", d, err)
	}
	if _, err := b.GetTx(ctx, "nope"); !errors.Is(err, driver.ErrNotFound) {
		t.Fatalf("GetTx(unknown) = %v", err)
	}
}

func testDecideRace(t *testing.T, h Harness) {
	ctx, b := ctxT(t), h.New(t)
	for round := 0; round < 5; round++ {
		id := fmt.Sprintf("t%d", round)
		if err := b.Begin(ctx, driver.Tx{ID: id}); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		got := make([]driver.Decision, 6)
		errs := make([]error, 6)
		for i := range got {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				d := driver.Commit
				if i%2 == 1 {
					d = driver.Abort
				}
				got[i], errs[i] = b.Decide(ctx, id, d)
			}(i)
		}
		wg.Wait()
		for i := range got {
			if errs[i] != nil || got[i] != got[0] || got[i] == driver.None {
				t.Fatalf("round %d: concurrent Decide returned %v (errors %v); all must see the one winning decision", round, got, errs)
			}
		}
	}
}

func testTxList(t *testing.T, h Harness) {
	ctx, b := ctxT(t), h.New(t)
	for i := 0; i < 4; i++ {
		if err := b.Begin(ctx, driver.Tx{ID: fmt.Sprintf("t%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Finish(ctx, "t1"); err != nil {
		t.Fatal(err)
	}
	if err := b.Finish(ctx, "unknown"); err != nil {
		t.Fatalf("Finish(unknown) = %v, want nil", err)
	}
	un, err := b.ListTx(ctx, driver.TxFilter{Unfinished: true})
	if err != nil || len(un) != 3 {
		t.Fatalf("ListTx(unfinished) = %d, %v", len(un), err)
	}
	for _, tx := range un {
		if tx.ID == "t1" {
			t.Fatal("ListTx(unfinished) returned a finished tx")
		}
	}
	page, err := b.ListTx(ctx, driver.TxFilter{After: "t1", Limit: 2})
	if err != nil || len(page) != 2 || page[0].ID != "t2" {
		t.Fatalf("ListTx(after t1, limit 2) = %+v, %v", page, err)
	}
	if tx, _ := b.GetTx(ctx, "t1"); !tx.Finished {
		t.Fatalf("t1 not finished: %+v", tx)
	}
}

// world is a test saga over a backend: a three-step saga whose steps
// journal their calls.
type world struct {
	b     Backend
	ld    lockdriver.Locker
	mu    sync.Mutex
	calls map[string]int
	fail  string // step whose action fails permanently
	block chan struct{}
	hold  string // step whose first call blocks on block
}

type data struct{ N int }

func newWorld(t *testing.T, h Harness) *world {
	return &world{b: h.New(t), ld: h.Locker(t), calls: map[string]int{}}
}

func (w *world) count(k string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.calls[k]
}

func (w *world) instance(t *testing.T) (*saga.Orchestrator, *saga.Saga[data]) {
	t.Helper()
	lk, err := lock.New(w.ld, &lock.Options{TTL: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	o, err := saga.New(w.b, lk, nil)
	if err != nil {
		t.Fatal(err)
	}
	fast := saga.Retry{Initial: time.Millisecond, Max: 5 * time.Millisecond}
	var steps []saga.Step[data]
	for _, name := range []string{"a", "b", "c"} {
		steps = append(steps, saga.Step[data]{
			Name: name,
			Action: func(ctx context.Context, c saga.Call, d data) error {
				w.mu.Lock()
				w.calls[c.SagaID+"/"+name]++
				first := w.calls[c.SagaID+"/"+name] == 1
				w.mu.Unlock()
				if name == w.hold && first {
					<-w.block
				}
				if name == w.fail {
					return saga.Permanent(errors.New("refused"))
				}
				return nil
			},
			Compensate: func(ctx context.Context, c saga.Call, d data) error {
				w.mu.Lock()
				w.calls[c.SagaID+"/-"+name]++
				w.mu.Unlock()
				return nil
			},
			Retry: fast, CompensateRetry: fast,
		})
	}
	s, err := saga.Register(o, "three", steps)
	if err != nil {
		t.Fatal(err)
	}
	return o, s
}

func testCompletes(t *testing.T, h Harness) {
	ctx, w := ctxT(t), newWorld(t, h)
	o, s := w.instance(t)
	if err := s.Run(ctx, "x", data{N: 1}); err != nil {
		t.Fatalf("Run: %v", err)
	}
	st, err := o.Status(ctx, "x")
	if err != nil || st.State != saga.Completed {
		t.Fatalf("Status = %+v, %v", st, err)
	}
	for _, s := range st.Steps {
		if s.Status != driver.StepDone {
			t.Fatalf("step %+v not done", s)
		}
	}
}

func testCompensates(t *testing.T, h Harness) {
	ctx, w := ctxT(t), newWorld(t, h)
	w.fail = "c"
	o, s := w.instance(t)
	if err := s.Run(ctx, "x", data{}); !errors.Is(err, saga.ErrCompensated) {
		t.Fatalf("Run = %v, want ErrCompensated", err)
	}
	for _, k := range []string{"-a", "-b", "-c"} {
		if n := w.count("x/" + k); n != 1 {
			t.Fatalf("compensation %s ran %d times, want 1", k, n)
		}
	}
	if st, _ := o.Status(ctx, "x"); st.State != saga.Compensated {
		t.Fatalf("state %s", st.State)
	}
}

// crashed writes the log a coordinator that crashed during step b's call
// would leave: a done, b started, fenced with an old token.
func crashed(t *testing.T, b Backend, id string, state driver.State, steps ...driver.StepStatus) {
	t.Helper()
	r := driver.Record{ID: id, Name: "three", Data: []byte(`{"N":1}`), State: state, Fence: 0}
	for i, n := range []string{"a", "b", "c"} {
		r.Steps = append(r.Steps, driver.Step{Name: n, Status: steps[i]})
	}
	if err := b.Create(context.Background(), r); err != nil {
		t.Fatal(err)
	}
}

func testTakeover(t *testing.T, h Harness) {
	ctx, w := ctxT(t), newWorld(t, h)
	crashed(t, w.b, "fwd", driver.Running, driver.StepDone, driver.StepStarted, driver.StepPending)
	crashed(t, w.b, "back", driver.Compensating, driver.StepDone, driver.StepFailed, driver.StepPending)
	o, _ := w.instance(t)
	n, err := o.Recover(ctx)
	if err != nil || n != 2 {
		t.Fatalf("Recover = %d, %v; want 2 sagas driven", n, err)
	}
	st, _ := o.Status(ctx, "fwd")
	if st.State != saga.Completed || w.count("fwd/a") != 0 || w.count("fwd/b") != 1 || w.count("fwd/c") != 1 {
		t.Fatalf("forward recovery: state %s, calls %v", st.State, w.calls)
	}
	if st.Fence < 1 {
		t.Fatalf("recovery wrote with fence %d, want a newer token than the crashed owner's", st.Fence)
	}
	st, _ = o.Status(ctx, "back")
	if st.State != saga.Compensated || w.count("back/-b") != 1 || w.count("back/-a") != 1 || w.count("back/-c") != 0 {
		t.Fatalf("backward recovery: state %s, calls %v", st.State, w.calls)
	}
	if n, err := o.Recover(ctx); err != nil || n != 0 {
		t.Fatalf("second Recover = %d, %v; want nothing to do", n, err)
	}
}

func testStaleOwner(t *testing.T, h Harness) {
	ctx, w := ctxT(t), newWorld(t, h)
	w.hold, w.block = "b", make(chan struct{})
	oa, sa := w.instance(t)
	ob, _ := w.instance(t)
	done := make(chan error, 1)
	go func() { done <- sa.Run(ctx, "x", data{}) }()
	// Wait until A is inside b's first call.
	deadline := time.Now().Add(10 * time.Second)
	for w.count("x/b") == 0 {
		if time.Now().After(deadline) {
			t.Fatal("step b never started")
		}
		time.Sleep(time.Millisecond)
	}
	// A's lease is dropped behind its back (as a long GC pause would let
	// it expire); B takes the saga over and finishes it.
	h0, held, err := w.ld.Holder(ctx, "saga/x")
	if err != nil || !held {
		t.Fatalf("Holder = %v, %v", held, err)
	}
	if err := w.ld.Release(ctx, "saga/x", h0.Owner); err != nil {
		t.Fatal(err)
	}
	if n, err := ob.Recover(ctx); err != nil || n != 1 {
		t.Fatalf("B.Recover = %d, %v", n, err)
	}
	close(w.block)
	if err := <-done; !errors.Is(err, saga.ErrLeaseLost) {
		t.Fatalf("stale owner's Run = %v, want ErrLeaseLost", err)
	}
	st, _ := oa.Status(ctx, "x")
	if st.State != saga.Completed {
		t.Fatalf("state %s after takeover, want completed", st.State)
	}
	if w.count("x/c") != 1 {
		t.Fatalf("step c ran %d times; the stale owner must not go on", w.count("x/c"))
	}
}

func testSharedRecovery(t *testing.T, h Harness) {
	ctx, w := ctxT(t), newWorld(t, h)
	const n = 12
	for i := 0; i < n; i++ {
		crashed(t, w.b, fmt.Sprintf("s%02d", i), driver.Running, driver.StepDone, driver.StepDone, driver.StepStarted)
	}
	var insts []*saga.Orchestrator
	for i := 0; i < 3; i++ {
		o, _ := w.instance(t)
		insts = append(insts, o)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	total := 0
	for _, o := range insts {
		wg.Add(1)
		go func(o *saga.Orchestrator) {
			defer wg.Done()
			// Each instance runs passes until nothing is left.
			for {
				k, err := o.Recover(ctx)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				total += k
				mu.Unlock()
				if k == 0 {
					return
				}
			}
		}(o)
	}
	wg.Wait()
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("s%02d", i)
		st, _ := insts[0].Status(ctx, id)
		if st.State != saga.Completed {
			t.Fatalf("%s is %s after recovery", id, st.State)
		}
		if c := w.count(id + "/c"); c != 1 {
			t.Fatalf("%s: step c ran %d times across instances, want 1", id, c)
		}
	}
	if total < n {
		t.Fatalf("instances drove %d sagas in total, want at least %d", total, n)
	}
}
