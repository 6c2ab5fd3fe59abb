package saga_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/scalekit-go/scalekit/lock"
	"github.com/scalekit-go/scalekit/saga"
	"github.com/scalekit-go/scalekit/saga/driver"
)

// blocking returns a step whose action blocks until its context ends,
// after signalling started.
func (e *env) blocking(name string, started chan<- struct{}) saga.Step[order] {
	s := e.step(name, nil)
	s.Action = func(ctx context.Context, c saga.Call, o order) error {
		e.jr.add(name)
		started <- struct{}{}
		<-ctx.Done()
		return ctx.Err()
	}
	return s
}

func TestAbortAndBusy(t *testing.T) {
	e := newEnv(t)
	started := make(chan struct{}, 1)
	s, _ := saga.Register(e.o, "order", []saga.Step[order]{e.step("a", nil), e.blocking("b", started), e.step("c", nil)})
	other := e.orchestrator(t)
	if _, err := saga.Register(other, "order", []saga.Step[order]{e.step("a", nil), e.step("b", nil), e.step("c", nil)}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, "o1", order{}) }()
	<-started
	// While the first instance owns the saga, another cannot abort it.
	if err := other.Abort(context.Background(), "o1", "operator"); !errors.Is(err, saga.ErrBusy) {
		t.Fatalf("Abort of an owned saga = %v, want ErrBusy", err)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled Run = %v", err)
	}
	st, _ := other.Status(context.Background(), "o1")
	if st.State != saga.Running {
		t.Fatalf("state %s after a cancelled Run, want running (left to recovery)", st.State)
	}
	if err := other.Abort(context.Background(), "o1", "customer cancelled"); !errors.Is(err, saga.ErrCompensated) {
		t.Fatalf("Abort = %v, want ErrCompensated", err)
	}
	if got := e.jr.list(); !slices.Equal(got, []string{"a", "b", "-b", "-a"}) {
		t.Fatalf("calls %v: b was started, so it is compensated too; c never ran", got)
	}
	st, _ = other.Status(context.Background(), "o1")
	if st.State != saga.Compensated || st.Error != "aborted: customer cancelled" {
		t.Fatalf("status %+v", st)
	}
	if err := other.Abort(context.Background(), "o1", "again"); !errors.Is(err, saga.ErrTerminal) {
		t.Fatalf("Abort of a finished saga = %v, want ErrTerminal", err)
	}
}

// TestInterruptedAttemptsAreCounted: a step whose attempts keep being
// interrupted by crashes is given up after MaxAttempts, not retried
// forever.
func TestInterruptedAttemptsAreCounted(t *testing.T) {
	e := newEnv(t)
	b := e.step("b", nil)
	b.Retry.MaxAttempts = 2
	_, _ = saga.Register(e.o, "order", []saga.Step[order]{e.step("a", nil), b})
	// The log as a coordinator that crashed during b's first attempt
	// left it.
	rec := driver.Record{ID: "o1", Name: "order", Data: []byte(`{}`), State: driver.Running,
		Steps: []driver.Step{{Name: "a", Status: driver.StepDone}, {Name: "b", Status: driver.StepStarted, Attempts: 1}}}
	if err := e.log.Create(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	if n, err := e.o.Recover(context.Background()); err != nil || n != 1 {
		t.Fatalf("Recover = %d, %v", n, err)
	}
	st, _ := e.o.Status(context.Background(), "o1")
	if st.State != saga.Compensated || !slices.Equal(e.jr.list(), []string{"-b", "-a"}) {
		t.Fatalf("state %s, calls %v: b's second interrupted attempt exhausts it", st.State, e.jr.list())
	}
}

func TestRunRecoveryLoop(t *testing.T) {
	e := newEnv(t)
	_, _ = saga.Register(e.o, "order", []saga.Step[order]{e.step("a", nil)})
	rec := driver.Record{ID: "o1", Name: "order", Data: []byte(`{}`), State: driver.Running,
		Steps: []driver.Step{{Name: "a", Status: driver.StepStarted}}}
	if err := e.log.Create(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.o.RunRecovery(ctx, 10*time.Millisecond) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, _ := e.o.Status(context.Background(), "o1")
		if st.State == saga.Completed {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("recovery loop did not complete the saga: %s", st.State)
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("RunRecovery = %v", err)
	}
}

func TestUnknownDefinitionAlerts(t *testing.T) {
	e := newEnv(t)
	rec := driver.Record{ID: "o1", Name: "nobody-registered-this", Data: []byte(`{}`), State: driver.Running,
		Steps: []driver.Step{{Name: "a", Status: driver.StepStarted}}}
	_ = e.log.Create(context.Background(), rec)
	if _, err := e.o.Recover(context.Background()); !errors.Is(err, saga.ErrUnknownSaga) {
		t.Fatalf("Recover = %v, want ErrUnknownSaga", err)
	}
	if e.alerts(saga.AlertUnknownSaga) != 1 {
		t.Fatal("no alert for an unknown definition")
	}
}

func TestSpansPerSagaAndStep(t *testing.T) {
	e := newEnv(t)
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	lk, _ := lock.New(e.mem, nil)
	o, err := saga.New(e.log, lk, &saga.Options{Name: "orders", TracerProvider: tp})
	if err != nil {
		t.Fatal(err)
	}
	s, _ := saga.Register(o, "order", []saga.Step[order]{e.step("a", nil), e.step("b", nil),
		e.step("c", func(saga.Call) error { return saga.Permanent(errors.New("no")) })})
	_ = s.Run(context.Background(), "o1", order{})
	count := map[string]int{}
	for _, sp := range rec.Ended() {
		count[sp.Name()]++
		if sp.Name() == "saga.Step" || sp.Name() == "saga.Compensate" {
			if sp.Parent().SpanID() == ([8]byte{}) {
				t.Errorf("%s span has no parent", sp.Name())
			}
		}
	}
	if count["saga.Run"] != 1 || count["saga.Step"] != 3 || count["saga.Compensate"] != 3 {
		t.Fatalf("spans %v, want 1 saga.Run, 3 saga.Step, 3 saga.Compensate", count)
	}
}
