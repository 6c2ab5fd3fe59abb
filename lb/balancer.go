package lb

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/metric"

	"github.com/scalekit-go/scalekit/clock"
	"github.com/scalekit-go/scalekit/internal/backoff"
)

// Options configures a Balancer. A nil *Options means the defaults of every
// field: round robin, no health checks, no outlier detection, no breakers,
// no slow start, 30 s drain timeout.
type Options struct {
	// Name labels the balancer's metrics and spans (attribute
	// scalekit.name), so two balancers never merge. Default "lb".
	Name string
	// Policy builds the pickers (default RoundRobin()).
	Policy Policy
	// SlowStart is the window over which a newly added endpoint's weight
	// ramps linearly from SlowStartMin×weight to its full weight, so a cold
	// cache or JIT is not flooded (0 disables). Endpoints present when the
	// balancer is created start at full weight; an endpoint returning from
	// ejection ramps up again. Only policies that use weights see it:
	// RoundRobin and Random ignore weights.
	SlowStart time.Duration
	// SlowStartMin is the starting share of the weight (default 0.1).
	SlowStartMin float64
	// HealthCheck enables active health checking (nil disables).
	HealthCheck *HealthCheck
	// Outlier enables passive outlier ejection (nil disables).
	Outlier *OutlierOptions
	// Breaker gives every endpoint its own circuit breaker (nil disables).
	Breaker *BreakerOptions
	// DrainTimeout bounds how long a removed endpoint keeps its in-flight
	// calls before it is closed regardless (default 30 s).
	DrainTimeout time.Duration
	// Decay is the time constant of the latency and bandwidth averages
	// (default 10 s).
	Decay time.Duration
	// IsFailure classifies the error passed to Done (default: any non-nil
	// error except context.Canceled is a failure), under
	// resilience.Classify: a cancellation or a policy's rejection
	// (resilience.IsRejection) counts as neither success nor failure for
	// breakers and outlier detection, whatever IsFailure says; a non-nil
	// error IsFailure declines counts as a success (the endpoint
	// answered).
	IsFailure func(err error) bool
	// OnEvent, if set, is called for every state change (added, draining,
	// removed, health up/down, ejected, half-open, recovered, breaker
	// state). It runs synchronously and must not call back into the
	// Balancer's mutating methods.
	OnEvent func(Event)
	// Clock drives slow start, ejection periods, health-check intervals and
	// drain deadlines (default the real clock).
	Clock clock.Clock
	// MeterProvider receives the metrics (default the global provider).
	MeterProvider metric.MeterProvider
	// StickyKey keys the opaque endpoint IDs that sticky-session cookies
	// carry (Backend.ID, an HMAC-SHA256 of the address): without the key
	// the address cannot be recovered or confirmed from a cookie. Default
	// a random key per Balancer; set the same key of at least 16 bytes on
	// every proxy instance when sessions must stick across instances.
	StickyKey []byte
}

// Balancer spreads calls over a changing set of endpoints with a Policy,
// and keeps only healthy ones in rotation: active health checks, passive
// outlier ejection, per-endpoint circuit breakers, slow start and
// connection draining all act by rebuilding the immutable Picker snapshot
// that Pick reads with one atomic load.
//
// A Balancer is safe for concurrent use. Create it with New or Open and
// stop it with Close.
type Balancer struct {
	opts   Options
	clk    clock.Clock
	policy Policy
	shared atomic.Int64 // in-flight calls over all backends
	// removals counts endpoints that started or finished draining; the
	// HTTP Transport closes its idle keep-alive connections when it moves.
	removals atomic.Uint64

	snap atomic.Pointer[snapshot]

	mu       sync.Mutex
	all      map[string]*Backend // current, by address
	draining map[*Backend]struct{}
	closed   bool
	rampT    clock.Timer
	cancel   context.CancelFunc
	wg       sync.WaitGroup

	metrics *metrics
}

type snapshot struct {
	picker Picker
	list   []*Backend
	byID   map[string]*Backend
	closed bool
}

// New returns a Balancer over a static initial set of endpoints (which may
// be empty; SetEndpoints changes it later). It starts the health-check
// goroutines when HealthCheck is set and does no other I/O.
func New(endpoints []Endpoint, o *Options) (*Balancer, error) {
	b, err := newBalancer(o)
	if err != nil {
		return nil, err
	}
	if err := b.setEndpoints(endpoints, true); err != nil {
		b.Close()
		return nil, err
	}
	return b, nil
}

// Open returns a Balancer fed by r: it starts r.Watch in the background and
// waits until the first endpoint set arrives, ctx ends (ctx.Err() is
// returned) or Watch fails. Should Watch fail later, the Balancer keeps
// the last set, reports EventResolverError and restarts Watch with
// exponential backoff (100 ms to 10 s, jittered) until Close.
func Open(ctx context.Context, r Resolver, o *Options) (*Balancer, error) {
	b, err := newBalancer(o)
	if err != nil {
		return nil, err
	}
	wctx, cancel := context.WithCancel(context.Background())
	first := make(chan struct{})
	var once sync.Once
	firstErr := make(chan error, 1)
	b.mu.Lock()
	b.cancel = cancel
	b.mu.Unlock()
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		initial := true
		update := func(eps []Endpoint) {
			if err := b.setEndpoints(eps, initial); err != nil && !errors.Is(err, ErrClosed) {
				b.emit([]Event{{Kind: EventResolverError, Time: b.clk.Now(), Detail: err.Error()}})
				return
			}
			initial = false
			once.Do(func() { close(first) })
		}
		bo := backoff.New(backoff.Policy{}, b.clk)
		for {
			err := r.Watch(wctx, update)
			if wctx.Err() != nil {
				return
			}
			if initial {
				firstErr <- err
				return
			}
			if err == nil {
				err = errors.New("resolver stopped")
			}
			b.emit([]Event{{Kind: EventResolverError, Time: b.clk.Now(), Detail: err.Error()}})
			d, _ := bo.Next()
			if clock.Sleep(wctx, b.clk, d) != nil {
				return
			}
		}
	}()
	select {
	case <-first:
		return b, nil
	case <-ctx.Done():
		b.Close()
		return nil, ctx.Err()
	case err := <-firstErr:
		b.Close()
		if err == nil {
			err = errors.New("resolver stopped before the first update")
		}
		return nil, fmt.Errorf("lb: open: %w", err)
	}
}

func newBalancer(o *Options) (*Balancer, error) {
	var opts Options
	if o != nil {
		opts = *o
	}
	if opts.Policy == nil {
		opts.Policy = RoundRobin()
	}
	if opts.SlowStart < 0 || opts.DrainTimeout < 0 || opts.Decay < 0 {
		return nil, errors.New("lb: negative duration in Options")
	}
	if opts.SlowStartMin <= 0 || opts.SlowStartMin > 1 {
		opts.SlowStartMin = 0.1
	}
	if opts.DrainTimeout == 0 {
		opts.DrainTimeout = 30 * time.Second
	}
	if opts.IsFailure == nil {
		opts.IsFailure = defaultIsFailure
	}
	if err := opts.HealthCheck.validate(); err != nil {
		return nil, err
	}
	if err := opts.Outlier.validate(); err != nil {
		return nil, err
	}
	if opts.StickyKey == nil {
		opts.StickyKey = randomKey()
	} else if len(opts.StickyKey) < 16 {
		return nil, fmt.Errorf("lb: StickyKey is %d bytes, want at least 16", len(opts.StickyKey))
	} else {
		opts.StickyKey = append([]byte(nil), opts.StickyKey...)
	}
	b := &Balancer{
		opts:     opts,
		clk:      clock.Or(opts.Clock),
		policy:   opts.Policy,
		all:      map[string]*Backend{},
		draining: map[*Backend]struct{}{},
	}
	b.snap.Store(&snapshot{picker: emptyPicker{}})
	b.metrics = newMetrics(b, opts.MeterProvider)
	return b, nil
}

func defaultIsFailure(err error) bool {
	return err != nil && !errors.Is(err, context.Canceled)
}

// SetEndpoints replaces the endpoint set. New endpoints join (with slow
// start when configured); endpoints no longer listed stop getting picks
// and are closed once their in-flight calls finish or DrainTimeout passes.
// Endpoints listed again keep their state. Duplicate addresses are merged.
func (b *Balancer) SetEndpoints(endpoints []Endpoint) error {
	return b.setEndpoints(endpoints, false)
}

func (b *Balancer) setEndpoints(endpoints []Endpoint, initial bool) error {
	for _, e := range endpoints {
		if err := e.validate(); err != nil {
			return err
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return ErrClosed
	}
	now := b.clk.Now()
	want := make(map[string]Endpoint, len(endpoints))
	for _, e := range endpoints {
		want[e.Addr] = e
	}
	var events []Event
	for addr, be := range b.all {
		if e, ok := want[addr]; ok && e.weight() == be.ep.weight() {
			continue
		}
		// Removed, or its weight changed: drain the old one.
		delete(b.all, addr)
		b.startDrainLocked(be, now, &events)
	}
	for addr, e := range want {
		if _, ok := b.all[addr]; ok {
			continue
		}
		added := now
		if initial {
			added = time.Time{} // no slow start for the first set
		}
		be := newBackend(e, b.opts.Decay, &b.shared, added, b.opts.StickyKey)
		b.attachBreaker(be)
		b.all[addr] = be
		b.startHealthLocked(be)
		events = append(events, Event{Kind: EventAdded, Addr: addr, Time: now})
	}
	b.rebuildLocked(now)
	b.emit(events)
	return nil
}

func (b *Balancer) startDrainLocked(be *Backend, now time.Time, events *[]Event) {
	b.removals.Add(1)
	be.draining.Store(true)
	if be.stopHC != nil {
		be.stopHC()
	}
	*events = append(*events, Event{Kind: EventDraining, Addr: be.Addr(), Time: now})
	if be.inflight.Load() == 0 {
		be.gone = true
		be.markClosed()
		*events = append(*events, Event{Kind: EventRemoved, Addr: be.Addr(), Time: now})
		return
	}
	b.draining[be] = struct{}{}
	b.clk.AfterFunc(b.opts.DrainTimeout, func() { b.finishDrain(be) })
}

// finishDrain closes a draining backend (idle, or its deadline passed).
func (b *Balancer) finishDrain(be *Backend) {
	b.mu.Lock()
	if _, ok := b.draining[be]; !ok {
		b.mu.Unlock()
		return
	}
	delete(b.draining, be)
	b.removals.Add(1)
	be.gone = true
	be.markClosed()
	b.mu.Unlock()
	b.emit([]Event{{Kind: EventRemoved, Addr: be.Addr(), Time: b.clk.Now()}})
}

// eligibleLocked reports whether be may take new calls.
func eligibleLocked(be *Backend) bool {
	return be.healthy && !be.ejected && !be.draining.Load()
}

// rebuildLocked builds and publishes a new picker snapshot.
func (b *Balancer) rebuildLocked(now time.Time) {
	if b.closed {
		return
	}
	keys := make([]string, 0, len(b.all))
	for k := range b.all {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	ready := make([]Weighted, 0, len(keys))
	for _, k := range keys {
		if be := b.all[k]; eligibleLocked(be) {
			ready = append(ready, Weighted{be, 0})
		}
	}
	if len(ready) == 0 {
		// Panic mode (as in Envoy): when health checks or ejection would
		// leave nothing, spreading over every endpoint beats failing all.
		for _, k := range keys {
			if be := b.all[k]; !be.draining.Load() {
				ready = append(ready, Weighted{be, 0})
			}
		}
	}
	ramping := false
	for i := range ready {
		w, r := b.effectiveWeight(ready[i].Backend, now)
		ready[i].Weight = w
		ramping = ramping || r
	}
	s := &snapshot{picker: b.policy.Build(ready), list: make([]*Backend, len(ready)), byID: make(map[string]*Backend, len(ready))}
	for i, w := range ready {
		s.list[i] = w.Backend
		s.byID[w.Backend.id] = w.Backend
	}
	b.snap.Store(s)
	if b.rampT != nil {
		b.rampT.Stop()
		b.rampT = nil
	}
	if ramping {
		step := max(b.opts.SlowStart/10, time.Millisecond)
		b.rampT = b.clk.AfterFunc(step, b.refresh)
	}
}

// refresh rebuilds the snapshot (slow-start steps).
func (b *Balancer) refresh() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.rebuildLocked(b.clk.Now())
}

// weightScale keeps slow-start fractions representable in integer weights.
const weightScale = 100

// effectiveWeight returns be's weight (scaled by weightScale) and whether it
// is still ramping up.
func (b *Balancer) effectiveWeight(be *Backend, now time.Time) (int, bool) {
	w := be.ep.weight() * weightScale
	if b.opts.SlowStart <= 0 || be.addedAt.IsZero() {
		return w, false
	}
	age := now.Sub(be.addedAt)
	if age >= b.opts.SlowStart {
		return w, false
	}
	if age < 0 {
		age = 0
	}
	f := b.opts.SlowStartMin + (1-b.opts.SlowStartMin)*float64(age)/float64(b.opts.SlowStart)
	return max(1, int(float64(w)*f)), true
}

// Backends returns the endpoints currently in the picker snapshot, in
// address order. The slice is shared: do not modify it.
func (b *Balancer) Backends() []*Backend { return b.snap.Load().list }

// Backend returns the current (not draining) backend with address addr.
func (b *Balancer) Backend(addr string) (*Backend, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	be, ok := b.all[addr]
	return be, ok
}

// Close stops health checks and the resolver, closes every endpoint and
// makes Pick return ErrClosed. Calls in flight may still call Done.
func (b *Balancer) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	b.snap.Store(&snapshot{picker: emptyPicker{}, closed: true})
	if b.cancel != nil {
		b.cancel()
	}
	if b.rampT != nil {
		b.rampT.Stop()
	}
	for _, be := range b.all {
		if be.stopHC != nil {
			be.stopHC()
		}
		be.markClosed()
	}
	for be := range b.draining {
		be.markClosed()
	}
	b.mu.Unlock()
	b.wg.Wait()
	b.metrics.unregister()
	return nil
}

func (b *Balancer) emit(events []Event) {
	for _, e := range events {
		if b.opts.OnEvent != nil {
			b.opts.OnEvent(e)
		}
	}
}
