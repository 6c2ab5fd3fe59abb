package saga_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scalekit-go/scalekit/lock"
	"github.com/scalekit-go/scalekit/lock/memlock"
	"github.com/scalekit-go/scalekit/saga"
	"github.com/scalekit-go/scalekit/saga/driver"
	"github.com/scalekit-go/scalekit/saga/memsaga"
)

type order struct {
	ID    string
	Items int
}

// journal records calls in order.
type journal struct {
	mu    sync.Mutex
	calls []string
}

func (j *journal) add(s string) {
	j.mu.Lock()
	j.calls = append(j.calls, s)
	j.mu.Unlock()
}

func (j *journal) list() []string {
	j.mu.Lock()
	defer j.mu.Unlock()
	return slices.Clone(j.calls)
}

type env struct {
	log  *memsaga.Log
	mem  *memlock.Locker
	o    *saga.Orchestrator
	jr   *journal
	alrt []saga.Alert
	amu  sync.Mutex
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{log: memsaga.New(nil), mem: memlock.New(nil), jr: &journal{}}
	e.o = e.orchestrator(t)
	return e
}

// orchestrator returns another orchestrator on the same log and lock, as
// a second instance of the service would have.
func (e *env) orchestrator(t *testing.T) *saga.Orchestrator {
	t.Helper()
	lk, err := lock.New(e.mem, &lock.Options{TTL: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	o, err := saga.New(e.log, lk, &saga.Options{OnAlert: func(a saga.Alert) {
		e.amu.Lock()
		e.alrt = append(e.alrt, a)
		e.amu.Unlock()
	}})
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func (e *env) alerts(kind saga.AlertKind) int {
	e.amu.Lock()
	defer e.amu.Unlock()
	n := 0
	for _, a := range e.alrt {
		if a.Kind == kind {
			n++
		}
	}
	return n
}

var fast = saga.Retry{Initial: time.Millisecond, Max: 2 * time.Millisecond}

// step returns a step that journals "name" and "-name" and fails with
// fail (if non-nil) on each call of its action.
func (e *env) step(name string, fail func(c saga.Call) error) saga.Step[order] {
	return saga.Step[order]{
		Name: name,
		Action: func(ctx context.Context, c saga.Call, o order) error {
			e.jr.add(name)
			if fail != nil {
				return fail(c)
			}
			return nil
		},
		Compensate: func(ctx context.Context, c saga.Call, o order) error {
			e.jr.add("-" + name)
			return nil
		},
		Retry:           fast,
		CompensateRetry: fast,
	}
}

func TestSequenceCompletes(t *testing.T) {
	e := newEnv(t)
	s, err := saga.Register(e.o, "order", []saga.Step[order]{e.step("a", nil), e.step("b", nil), e.step("c", nil)})
	if err != nil {
		t.Fatal(err)
	}
	before := e.log.Writes()
	if err := s.Run(context.Background(), "o1", order{ID: "o1"}); err != nil {
		t.Fatal(err)
	}
	if got := e.jr.list(); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Fatalf("calls %v, want a b c", got)
	}
	// One write per step plus the creation.
	if w := e.log.Writes() - before; w != 4 {
		t.Fatalf("log writes = %d, want 4 (create + one per step)", w)
	}
	st, err := e.o.Status(context.Background(), "o1")
	if err != nil || st.State != saga.Completed {
		t.Fatalf("status %+v, %v", st, err)
	}
	if err := s.Run(context.Background(), "o1", order{}); !errors.Is(err, saga.ErrExists) {
		t.Fatalf("second Run with the same id: %v, want ErrExists", err)
	}
}

func TestFailureCompensatesInReverseIncludingFailedStep(t *testing.T) {
	e := newEnv(t)
	boom := errors.New("boom")
	s, err := saga.Register(e.o, "order", []saga.Step[order]{
		e.step("a", nil), e.step("b", nil), e.step("c", func(saga.Call) error { return saga.Permanent(boom) }),
	})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Run(context.Background(), "o1", order{})
	if !errors.Is(err, saga.ErrCompensated) || !errors.Is(err, boom) {
		t.Fatalf("Run = %v, want ErrCompensated wrapping boom", err)
	}
	if got := e.jr.list(); !slices.Equal(got, []string{"a", "b", "c", "-c", "-b", "-a"}) {
		t.Fatalf("calls %v", got)
	}
	st, _ := e.o.Status(context.Background(), "o1")
	if st.State != saga.Compensated || !strings.Contains(st.Error, "boom") {
		t.Fatalf("status %+v", st)
	}
}

func TestRetriesAreBoundedAndVisible(t *testing.T) {
	e := newEnv(t)
	calls := 0
	st := e.step("b", func(c saga.Call) error {
		calls++
		if c.Attempt != calls {
			return saga.Permanent(fmt.Errorf("attempt %d on call %d", c.Attempt, calls))
		}
		return errors.New("flaky")
	})
	st.Retry.MaxAttempts = 4
	s, _ := saga.Register(e.o, "order", []saga.Step[order]{e.step("a", nil), st})
	err := s.Run(context.Background(), "o1", order{})
	if !errors.Is(err, saga.ErrCompensated) {
		t.Fatal(err)
	}
	if calls != 4 {
		t.Fatalf("action called %d times, want 4", calls)
	}
	rec, _ := e.o.Status(context.Background(), "o1")
	if rec.Steps[1].Attempts != 4 || rec.Steps[1].Status != driver.StepCompensated {
		t.Fatalf("step record %+v", rec.Steps[1])
	}
}

func TestRetryThenSuccess(t *testing.T) {
	e := newEnv(t)
	n := 0
	s, _ := saga.Register(e.o, "order", []saga.Step[order]{e.step("a", func(saga.Call) error {
		if n++; n < 3 {
			return errors.New("transient")
		}
		return nil
	})})
	if err := s.Run(context.Background(), "o1", order{}); err != nil {
		t.Fatal(err)
	}
}

func TestTimeoutCompensatesTimedOutStep(t *testing.T) {
	e := newEnv(t)
	slow := e.step("slow", nil)
	slow.Timeout = 20 * time.Millisecond
	slow.Retry.MaxAttempts = 1
	slow.Action = func(ctx context.Context, c saga.Call, o order) error {
		e.jr.add("slow")
		<-ctx.Done()
		return ctx.Err()
	}
	s, _ := saga.Register(e.o, "order", []saga.Step[order]{e.step("a", nil), slow})
	err := s.Run(context.Background(), "o1", order{})
	if !errors.Is(err, saga.ErrCompensated) || !errors.Is(err, saga.ErrStepTimeout) {
		t.Fatalf("Run = %v", err)
	}
	if got := e.jr.list(); !slices.Equal(got, []string{"a", "slow", "-slow", "-a"}) {
		t.Fatalf("calls %v: the timed-out step must be compensated too", got)
	}
}

func TestTimeoutAbandonsActionIgnoringContext(t *testing.T) {
	e := newEnv(t)
	release := make(chan struct{})
	defer close(release)
	stuck := e.step("stuck", nil)
	stuck.Timeout = 20 * time.Millisecond
	stuck.Retry.MaxAttempts = 1
	stuck.Action = func(context.Context, saga.Call, order) error { <-release; return nil }
	s, _ := saga.Register(e.o, "order", []saga.Step[order]{stuck})
	if err := s.Run(context.Background(), "o1", order{}); !errors.Is(err, saga.ErrStepTimeout) {
		t.Fatalf("Run = %v, want a timeout", err)
	}
}

func TestCompensationFailingGetsStuckThenRetry(t *testing.T) {
	e := newEnv(t)
	failing := true
	var mu sync.Mutex
	b := e.step("b", func(saga.Call) error { return saga.Permanent(errors.New("no")) })
	b.Compensate = func(context.Context, saga.Call, order) error {
		mu.Lock()
		defer mu.Unlock()
		if failing {
			return errors.New("compensation down")
		}
		e.jr.add("-b")
		return nil
	}
	b.CompensateRetry.MaxAttempts = 3
	s, _ := saga.Register(e.o, "order", []saga.Step[order]{e.step("a", nil), b})
	if err := s.Run(context.Background(), "o1", order{}); !errors.Is(err, saga.ErrStuck) {
		t.Fatalf("Run = %v, want ErrStuck", err)
	}
	if n := e.alerts(saga.AlertCompensationFailed); n != 3 {
		t.Fatalf("%d compensation alerts, want 3", n)
	}
	if n := e.alerts(saga.AlertStuck); n != 1 {
		t.Fatalf("%d stuck alerts, want 1", n)
	}
	stuck, err := e.o.ListStuck(context.Background(), time.Hour)
	if err != nil || len(stuck) != 1 || stuck[0].ID != "o1" {
		t.Fatalf("ListStuck = %v, %v", stuck, err)
	}
	// Recovery leaves stuck sagas alone.
	if n, err := e.o.Recover(context.Background()); err != nil || n != 0 {
		t.Fatalf("Recover = %d, %v", n, err)
	}
	if st, _ := e.o.Status(context.Background(), "o1"); st.State != saga.Stuck {
		t.Fatalf("state %s after Recover, want stuck", st.State)
	}
	mu.Lock()
	failing = false
	mu.Unlock()
	if err := e.o.Retry(context.Background(), "o1"); !errors.Is(err, saga.ErrCompensated) {
		t.Fatalf("Retry = %v", err)
	}
	if got := e.jr.list(); !slices.Equal(got, []string{"a", "b", "-b", "-a"}) {
		t.Fatalf("calls %v", got)
	}
	if err := e.o.Retry(context.Background(), "o1"); !errors.Is(err, saga.ErrTerminal) {
		t.Fatalf("Retry of a finished saga = %v, want ErrTerminal", err)
	}
}

func TestDAGParallelBranchesJoin(t *testing.T) {
	e := newEnv(t)
	var mu sync.Mutex
	running, peak := 0, 0
	both := make(chan struct{})
	var once sync.Once
	par := func(name string) saga.Step[order] {
		s := e.step(name, nil)
		s.After = []string{"start"}
		s.Action = func(ctx context.Context, c saga.Call, o order) error {
			mu.Lock()
			running++
			peak = max(peak, running)
			if running == 2 {
				once.Do(func() { close(both) })
			}
			mu.Unlock()
			select { // both branches must be in flight together
			case <-both:
			case <-ctx.Done():
				return ctx.Err()
			}
			mu.Lock()
			running--
			mu.Unlock()
			e.jr.add(name)
			return nil
		}
		return s
	}
	join := e.step("join", nil)
	join.After = []string{"left", "right"}
	s, err := saga.Register(e.o, "dag", []saga.Step[order]{e.step("start", nil), par("left"), par("right"), join})
	if err != nil {
		t.Fatal(err)
	}
	before := e.log.Writes()
	if err := s.Run(context.Background(), "d1", order{}); err != nil {
		t.Fatal(err)
	}
	got := e.jr.list()
	if peak != 2 || got[0] != "start" || got[3] != "join" {
		t.Fatalf("calls %v, peak parallelism %d", got, peak)
	}
	if w := e.log.Writes() - before; w != 5 {
		t.Fatalf("log writes = %d, want 5", w)
	}
}

func TestDAGFailureCompensatesStartedBranches(t *testing.T) {
	e := newEnv(t)
	left := e.step("left", nil)
	left.After = []string{"start"}
	right := e.step("right", func(saga.Call) error { return saga.Permanent(errors.New("no stock")) })
	right.After = []string{"start"}
	join := e.step("join", nil)
	join.After = []string{"left", "right"}
	s, _ := saga.Register(e.o, "dag", []saga.Step[order]{e.step("start", nil), left, right, join})
	if err := s.Run(context.Background(), "d1", order{}); !errors.Is(err, saga.ErrCompensated) {
		t.Fatal(err)
	}
	got := e.jr.list()
	if slices.Contains(got, "join") || slices.Contains(got, "-join") {
		t.Fatalf("join ran or was compensated: %v", got)
	}
	for _, want := range []string{"-left", "-right", "-start"} {
		if !slices.Contains(got, want) {
			t.Fatalf("calls %v lack %s", got, want)
		}
	}
	if got[len(got)-1] != "-start" {
		t.Fatalf("calls %v: start must be compensated last", got)
	}
}

func TestBadInput(t *testing.T) {
	e := newEnv(t)
	act := func(context.Context, saga.Call, order) error { return nil }
	cases := []struct {
		name  string
		steps []saga.Step[order]
		want  error
	}{
		{"empty", nil, saga.ErrEmpty},
		{"duplicate", []saga.Step[order]{{Name: "a", Action: act}, {Name: "a", Action: act}}, saga.ErrDuplicateStep},
		{"nil action", []saga.Step[order]{{Name: "a"}}, saga.ErrNilAction},
		{"unnamed", []saga.Step[order]{{Action: act}}, saga.ErrInvalid},
		{"unknown dep", []saga.Step[order]{{Name: "a", Action: act, After: []string{"x"}}}, saga.ErrUnknownDependency},
		{"self cycle", []saga.Step[order]{{Name: "a", Action: act, After: []string{"a"}}}, saga.ErrCycle},
		{"cycle", []saga.Step[order]{
			{Name: "a", Action: act, After: []string{"c"}},
			{Name: "b", Action: act, After: []string{"a"}},
			{Name: "c", Action: act, After: []string{"b"}},
			{Name: "d", Action: act}}, saga.ErrCycle},
		{"negative timeout", []saga.Step[order]{{Name: "a", Action: act, Timeout: -1}}, saga.ErrInvalid},
		{"negative attempts", []saga.Step[order]{{Name: "a", Action: act, Retry: saga.Retry{MaxAttempts: -1}}}, saga.ErrInvalid},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := saga.Register(e.o, fmt.Sprintf("s%d", i), c.steps)
			if !errors.Is(err, c.want) {
				t.Fatalf("Register = %v, want %v", err, c.want)
			}
		})
	}
	if _, err := saga.Register(e.o, "", []saga.Step[order]{{Name: "a", Action: act}}); !errors.Is(err, saga.ErrInvalid) {
		t.Fatalf("empty name: %v", err)
	}
	s, err := saga.Register(e.o, "ok", []saga.Step[order]{{Name: "a", Action: act}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := saga.Register(e.o, "ok", []saga.Step[order]{{Name: "a", Action: act}}); !errors.Is(err, saga.ErrInvalid) {
		t.Fatalf("second registration: %v", err)
	}
	if err := s.Run(context.Background(), "", order{}); !errors.Is(err, saga.ErrInvalid) {
		t.Fatalf("empty id: %v", err)
	}
	if _, err := saga.New(nil, nil, nil); !errors.Is(err, saga.ErrInvalid) {
		t.Fatalf("New(nil): %v", err)
	}
	if _, err := saga.Register[order](nil, "x", nil); !errors.Is(err, saga.ErrInvalid) {
		t.Fatalf("Register(nil): %v", err)
	}
	if err := e.o.Abort(context.Background(), "nope", "x"); !errors.Is(err, saga.ErrNotFound) {
		t.Fatalf("Abort(unknown) = %v", err)
	}
	if err := e.o.RunRecovery(context.Background(), 0); !errors.Is(err, saga.ErrInvalid) {
		t.Fatalf("RunRecovery(0) = %v", err)
	}
}

func TestPanicInActionCompensates(t *testing.T) {
	e := newEnv(t)
	s, _ := saga.Register(e.o, "p", []saga.Step[order]{e.step("a", nil), e.step("b", func(saga.Call) error { panic("bug") })})
	if err := s.Run(context.Background(), "p1", order{}); !errors.Is(err, saga.ErrCompensated) {
		t.Fatalf("Run = %v", err)
	}
}
