package saga

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// Defaults of step and retry settings.
const (
	// DefaultTimeout is the time one attempt of an action or compensation
	// may take when Step.Timeout is zero.
	DefaultTimeout = 30 * time.Second
	// DefaultAttempts is the number of attempts of an action when
	// Retry.MaxAttempts is zero (the first call and two retries).
	DefaultAttempts = 3
	// DefaultCompensateAttempts is the number of attempts of a
	// compensation before the saga is marked stuck, when
	// Retry.MaxAttempts is zero.
	DefaultCompensateAttempts = 20
)

// Call describes one call of an action or compensation. SagaID and Step
// are stable across retries, restarts and coordinators: use them as the
// idempotency key of the call (pgsaga.Barrier does exactly that).
type Call struct {
	// SagaID is the id the saga was started with.
	SagaID string
	// Step is the step's name.
	Step string
	// Attempt counts the attempts of this call, from 1, across restarts.
	Attempt int
}

// Func is an action or a compensation. It must honour ctx: when ctx ends
// (the step timed out, the saga is aborting, ownership was lost) its work
// may or may not have been applied, and the saga treats it as applied.
// Actions and compensations are called at least once and must be
// idempotent (see pgsaga.Barrier).
type Func[T any] func(ctx context.Context, c Call, data T) error

// Retry bounds the attempts of an action or compensation. The zero value
// means the defaults.
type Retry struct {
	// MaxAttempts is the number of attempts in total, counted across
	// restarts (default DefaultAttempts for actions and
	// DefaultCompensateAttempts for compensations).
	MaxAttempts int
	// Initial and Max bound the jittered exponential backoff between
	// attempts (defaults 100ms and 10s).
	Initial, Max time.Duration
}

func (r Retry) resolve(defAttempts int) (Retry, error) {
	if r.MaxAttempts < 0 || r.Initial < 0 || r.Max < 0 {
		return r, invalid("negative value in Retry %+v", r)
	}
	if r.MaxAttempts == 0 {
		r.MaxAttempts = defAttempts
	}
	if r.Initial == 0 {
		r.Initial = 100 * time.Millisecond
	}
	if r.Max == 0 {
		r.Max = 10 * time.Second
	}
	if r.Max < r.Initial {
		r.Max = r.Initial
	}
	return r, nil
}

// Step is one step of a saga: an action and the compensation that undoes
// it.
type Step[T any] struct {
	// Name identifies the step within the saga (required, unique).
	Name string
	// After lists the steps that must complete before this one starts.
	// When no step of a saga has After, the steps run in sequence in the
	// order given; otherwise they form a DAG in which steps without After
	// start at once and a step starts when all of its After are done
	// (parallel branches that join).
	After []string
	// Action does the step's work (required).
	Action Func[T]
	// Compensate undoes Action. It is called for every step that was
	// started — also the one that failed or timed out, because it may
	// have been applied — when the saga compensates. nil means the step
	// has nothing to undo.
	Compensate Func[T]
	// Timeout bounds one attempt (default DefaultTimeout).
	Timeout time.Duration
	// Retry bounds the attempts of Action.
	Retry Retry
	// CompensateRetry bounds the attempts of Compensate before the saga
	// is marked stuck.
	CompensateRetry Retry
}

// stepSpec is a step with its settings resolved and its types erased.
type stepSpec struct {
	name      string
	deps      []int
	timeout   time.Duration
	retry     Retry
	compRetry Retry
	hasComp   bool
}

// callFn is an action or compensation bound to decoded saga data.
type callFn func(ctx context.Context, c Call) error

// def is a validated, type-erased saga definition.
type def struct {
	name  string
	steps []stepSpec
	order []int // a topological order of the steps
	roots []int // steps with no dependencies
	// bind decodes data and returns the steps' actions and compensations.
	bind func(data []byte) (act, comp []callFn, err error)
}

// compile validates steps and builds the definition named name.
func compile[T any](name string, steps []Step[T]) (*def, error) {
	if name == "" {
		return nil, invalid("empty saga name")
	}
	if len(steps) == 0 {
		return nil, fmt.Errorf("%w (saga %q)", ErrEmpty, name)
	}
	index := make(map[string]int, len(steps))
	dag := false
	for i, s := range steps {
		if s.Name == "" {
			return nil, invalid("saga %q: step %d has no name", name, i)
		}
		if _, dup := index[s.Name]; dup {
			return nil, fmt.Errorf("%w: %q in saga %q", ErrDuplicateStep, s.Name, name)
		}
		if s.Action == nil {
			return nil, fmt.Errorf("%w: step %q of saga %q", ErrNilAction, s.Name, name)
		}
		if s.Timeout < 0 {
			return nil, invalid("saga %q: step %q has a negative Timeout", name, s.Name)
		}
		index[s.Name] = i
		dag = dag || len(s.After) > 0
	}
	d := &def{name: name, steps: make([]stepSpec, len(steps))}
	for i, s := range steps {
		sp := stepSpec{name: s.Name, timeout: s.Timeout, hasComp: s.Compensate != nil}
		if sp.timeout == 0 {
			sp.timeout = DefaultTimeout
		}
		var err error
		if sp.retry, err = s.Retry.resolve(DefaultAttempts); err != nil {
			return nil, fmt.Errorf("saga %q: step %q: %w", name, s.Name, err)
		}
		if sp.compRetry, err = s.CompensateRetry.resolve(DefaultCompensateAttempts); err != nil {
			return nil, fmt.Errorf("saga %q: step %q: %w", name, s.Name, err)
		}
		switch {
		case dag:
			for _, a := range s.After {
				j, ok := index[a]
				if !ok {
					return nil, fmt.Errorf("%w: step %q of saga %q runs after %q", ErrUnknownDependency, s.Name, name, a)
				}
				if j == i {
					return nil, fmt.Errorf("%w: step %q of saga %q runs after itself", ErrCycle, s.Name, name)
				}
				sp.deps = append(sp.deps, j)
			}
		case i > 0:
			sp.deps = []int{i - 1}
		}
		if len(sp.deps) == 0 {
			d.roots = append(d.roots, i)
		}
		d.steps[i] = sp
	}
	order, err := topo(d.steps)
	if err != nil {
		return nil, fmt.Errorf("%w in saga %q", err, name)
	}
	d.order = order
	d.bind = func(data []byte) ([]callFn, []callFn, error) {
		var v T
		if err := json.Unmarshal(data, &v); err != nil {
			return nil, nil, fmt.Errorf("saga %q: decode data: %w", name, err)
		}
		act := make([]callFn, len(steps))
		comp := make([]callFn, len(steps))
		for i := range steps {
			a, c := steps[i].Action, steps[i].Compensate
			act[i] = func(ctx context.Context, call Call) error { return a(ctx, call, v) }
			if c != nil {
				comp[i] = func(ctx context.Context, call Call) error { return c(ctx, call, v) }
			}
		}
		return act, comp, nil
	}
	return d, nil
}

// topo returns a topological order of steps (Kahn's algorithm, stable in
// definition order), or ErrCycle naming the steps on cycles.
func topo(steps []stepSpec) ([]int, error) {
	indeg := make([]int, len(steps))
	next := make([][]int, len(steps))
	for i, s := range steps {
		for _, d := range s.deps {
			indeg[i]++
			next[d] = append(next[d], i)
		}
	}
	var queue, order []int
	for i := range steps {
		if indeg[i] == 0 {
			queue = append(queue, i)
		}
	}
	for len(queue) > 0 {
		i := queue[0]
		queue = queue[1:]
		order = append(order, i)
		for _, j := range next[i] {
			if indeg[j]--; indeg[j] == 0 {
				queue = append(queue, j)
			}
		}
	}
	if len(order) < len(steps) {
		var names []string
		for i, n := range indeg {
			if n > 0 {
				names = append(names, steps[i].name)
			}
		}
		return nil, fmt.Errorf("%w: steps %q", ErrCycle, names)
	}
	return order, nil
}
