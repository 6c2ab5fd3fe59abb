package grpcx

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"google.golang.org/grpc/balancer"
	"google.golang.org/grpc/balancer/base"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/serviceconfig"
	"google.golang.org/grpc/status"

	"github.com/scalekit-go/scalekit/lb"
	"github.com/scalekit-go/scalekit/resilience"
)

// Balancer names registered with grpc-go, for a service config's
// loadBalancingConfig, for example
//
//	{"loadBalancingConfig": [{"scalekit_p2c_ewma": {}}]}
const (
	// RoundRobinName is lb.RoundRobin.
	RoundRobinName = "scalekit_round_robin"
	// WeightedRoundRobinName is lb.WeightedRoundRobin (smooth WRR; weights
	// from AddressWeight attributes).
	WeightedRoundRobinName = "scalekit_weighted_round_robin"
	// LeastRequestName is lb.LeastConn: fewest calls in flight.
	LeastRequestName = "scalekit_least_request"
	// P2CEWMAName is lb.LeastResponseTime with power of two choices:
	// peak-EWMA latency × (in-flight + 1), fed by every call's DoneInfo.
	P2CEWMAName = "scalekit_p2c_ewma"
	// ConsistentHashName is lb.ConsistentHash with bounded loads, keyed
	// on an outgoing metadata value (BalancerConfig.HashKey).
	ConsistentHashName = "scalekit_consistent_hash"
)

// DefaultHashKey is the outgoing metadata key ConsistentHashName hashes
// when the config names none.
const DefaultHashKey = "x-scalekit-hash-key"

// BalancerConfig is the JSON config of every scalekit balancer. The zero
// value (the config {}) means: per-endpoint breakers opened by 5
// consecutive failures for 10 s, outlier ejection after 5 consecutive
// failures, and DefaultHashKey.
type BalancerConfig struct {
	serviceconfig.LoadBalancingConfig `json:"-"`

	// HashKey is the outgoing metadata key that ConsistentHashName hashes
	// (default DefaultHashKey). A call without it picks at random.
	HashKey string `json:"hashKey,omitempty"`
	// BreakerFailures opens an endpoint's breaker after this many
	// consecutive failures (default 5; negative disables breakers).
	BreakerFailures int `json:"breakerFailures,omitempty"`
	// BreakerTimeoutMs is how long a breaker stays open (default 10000).
	BreakerTimeoutMs int `json:"breakerTimeoutMs,omitempty"`
	// EjectFailures ejects an endpoint after this many consecutive
	// failures (default 5; negative disables outlier ejection).
	EjectFailures int `json:"ejectFailures,omitempty"`
}

// policies maps each registered name to its lb policy.
var policies = map[string]func() lb.Policy{
	RoundRobinName:         lb.RoundRobin,
	WeightedRoundRobinName: lb.WeightedRoundRobin,
	LeastRequestName:       func() lb.Policy { return lb.LeastConn(nil) },
	P2CEWMAName:            func() lb.Policy { return lb.LeastResponseTime(&lb.LoadOptions{ExactBelow: -1}) },
	ConsistentHashName:     func() lb.Policy { return lb.ConsistentHash(nil) },
}

func init() {
	for name, p := range policies {
		balancer.Register(&builder{name: name, policy: p})
	}
}

// RegisterBalancer registers policy with grpc-go under name, with the
// same breakers, outlier ejection and DoneInfo feedback as the built-in
// names. Call it from an init function, like balancer.Register.
func RegisterBalancer(name string, policy func() lb.Policy) {
	balancer.Register(&builder{name: name, policy: policy})
}

type builder struct {
	name   string
	policy func() lb.Policy
}

func (b *builder) Name() string { return b.name }

// ParseConfig implements balancer.ConfigParser.
func (b *builder) ParseConfig(js json.RawMessage) (serviceconfig.LoadBalancingConfig, error) {
	cfg := &BalancerConfig{}
	if len(js) > 0 {
		if err := json.Unmarshal(js, cfg); err != nil {
			return nil, fmt.Errorf("grpcx: %s config: %w", b.name, err)
		}
	}
	if cfg.BreakerTimeoutMs < 0 {
		return nil, fmt.Errorf("grpcx: %s config: breakerTimeoutMs %d < 0", b.name, cfg.BreakerTimeoutMs)
	}
	return cfg, nil
}

// Build creates one balancer per ClientConn: grpc's base balancer keeps
// the SubConns, and an lb.Balancer over their addresses keeps the load
// averages, the breakers and the outlier state.
func (b *builder) Build(cc balancer.ClientConn, opts balancer.BuildOptions) balancer.Balancer {
	pb := &pickerBuilder{policy: b.policy(), hashing: b.name != RoundRobinName && b.name != WeightedRoundRobinName &&
		b.name != LeastRequestName && b.name != P2CEWMAName}
	inner := base.NewBalancerBuilder(b.name, pb, base.Config{HealthCheck: true}).Build(cc, opts)
	return &wrapper{Balancer: inner, pb: pb}
}

// wrapper reads the config before the base balancer builds a picker.
type wrapper struct {
	balancer.Balancer
	pb *pickerBuilder
}

func (w *wrapper) UpdateClientConnState(s balancer.ClientConnState) error {
	cfg, _ := s.BalancerConfig.(*BalancerConfig)
	w.pb.configure(cfg)
	return w.Balancer.UpdateClientConnState(s)
}

func (w *wrapper) Close() {
	w.Balancer.Close()
	w.pb.close()
}

// pickerBuilder owns the lb.Balancer of one ClientConn.
type pickerBuilder struct {
	policy  lb.Policy
	hashing bool // the policy may read PickInfo.Key

	mu      sync.Mutex
	bal     *lb.Balancer
	hashKey string
}

func (pb *pickerBuilder) configure(cfg *BalancerConfig) {
	pb.mu.Lock()
	defer pb.mu.Unlock()
	if pb.bal != nil { // the first config wins: the endpoint state lives on
		return
	}
	if cfg == nil {
		cfg = &BalancerConfig{}
	}
	pb.bal = newLBBalancer(pb.policy, cfg)
	pb.hashKey = cfg.HashKey
	if pb.hashKey == "" {
		pb.hashKey = DefaultHashKey
	}
	if !pb.hashing {
		pb.hashKey = "" // no metadata lookup per pick
	}
}

func newLBBalancer(policy lb.Policy, cfg *BalancerConfig) *lb.Balancer {
	o := &lb.Options{Name: "grpcx", Policy: policy, IsFailure: IsFailure}
	if cfg.BreakerFailures >= 0 {
		n := uint32(cfg.BreakerFailures)
		if n == 0 {
			n = 5
		}
		timeout := time.Duration(cfg.BreakerTimeoutMs) * time.Millisecond
		if timeout == 0 {
			timeout = 10 * time.Second
		}
		o.Breaker = &lb.BreakerOptions{Timeout: timeout,
			ReadyToTrip: func(c resilience.Counts) bool { return c.ConsecutiveFailures >= n }}
	}
	if cfg.EjectFailures >= 0 {
		n := cfg.EjectFailures
		if n == 0 {
			n = 5
		}
		o.Outlier = &lb.OutlierOptions{ConsecutiveFailures: n}
	}
	bal, err := lb.New(nil, o)
	if err != nil { // the options above are valid; fall back to plain
		bal, _ = lb.New(nil, &lb.Options{Name: "grpcx", Policy: policy, IsFailure: IsFailure})
	}
	return bal
}

func (pb *pickerBuilder) close() {
	pb.mu.Lock()
	defer pb.mu.Unlock()
	if pb.bal != nil {
		_ = pb.bal.Close()
	}
}

// Build implements base.PickerBuilder: the ready SubConns become the
// balancer's endpoint set (endpoints listed again keep their averages,
// breakers and outlier state).
func (pb *pickerBuilder) Build(info base.PickerBuildInfo) balancer.Picker {
	pb.configure(nil)
	pb.mu.Lock()
	bal, key := pb.bal, pb.hashKey
	pb.mu.Unlock()
	if len(info.ReadySCs) == 0 {
		return base.NewErrPicker(balancer.ErrNoSubConnAvailable)
	}
	eps := make([]lb.Endpoint, 0, len(info.ReadySCs))
	scs := make(map[string]balancer.SubConn, len(info.ReadySCs))
	for sc, sci := range info.ReadySCs {
		addr := sci.Address.Addr
		if _, dup := scs[addr]; dup {
			continue
		}
		scs[addr] = sc
		eps = append(eps, lb.Endpoint{Addr: addr, Weight: AddressWeight(sci.Address)})
	}
	if err := bal.SetEndpoints(eps); err != nil {
		return base.NewErrPicker(status.Error(codes.Unavailable, "grpcx: "+err.Error()))
	}
	return &picker{bal: bal, scs: scs, hashKey: key}
}

// picker is an immutable snapshot: the SubConn of every ready address.
type picker struct {
	bal     *lb.Balancer
	scs     map[string]balancer.SubConn
	hashKey string
}

// errAllRejected fails calls fast when every endpoint's breaker is open.
var errAllRejected = status.Error(codes.Unavailable, "grpcx: no endpoint available (breakers open or endpoints ejected)")

// Pick implements balancer.Picker.
func (p *picker) Pick(info balancer.PickInfo) (balancer.PickResult, error) {
	var key string
	if p.hashKey != "" {
		if md, ok := metadata.FromOutgoingContext(info.Ctx); ok {
			if v := md.Get(p.hashKey); len(v) > 0 {
				key = v[0]
			}
		}
	}
	r, err := p.bal.Pick(lb.PickInfo{Key: key})
	if err != nil {
		if errors.Is(err, lb.ErrClosed) {
			return balancer.PickResult{}, balancer.ErrNoSubConnAvailable
		}
		return balancer.PickResult{}, errAllRejected
	}
	sc := p.scs[r.Backend.Addr()]
	if sc == nil { // the set moved under us; the next picker will have it
		r.Done(lb.DoneInfo{Err: context.Canceled})
		return balancer.PickResult{}, balancer.ErrNoSubConnAvailable
	}
	d := donePool.Get().(*doneFeedback)
	d.r = r
	return balancer.PickResult{SubConn: sc, Done: d.fn}, nil
}

// doneFeedback carries one call's lb.Result to its Done callback without
// allocating a closure per pick: the method value fn is bound once and
// the object is recycled.
type doneFeedback struct {
	r  lb.Result
	fn func(balancer.DoneInfo)
}

var donePool sync.Pool

func init() {
	donePool.New = func() any {
		d := &doneFeedback{}
		d.fn = d.done
		return d
	}
}

func (d *doneFeedback) done(di balancer.DoneInfo) {
	r := d.r
	d.r = lb.Result{}
	donePool.Put(d)
	r.Done(lb.DoneInfo{Err: lbError(di.Err)})
}

// lbError turns a call's status into the error lb classifies: a
// cancelled call becomes context.Canceled (neither success nor failure,
// by resilience.Classify).
func lbError(err error) error {
	if err == nil {
		return nil
	}
	if status.Code(err) == codes.Canceled {
		return context.Canceled
	}
	return err
}

// IsFailure reports whether a call's error says the endpoint failed:
// Unavailable, Unknown, Internal, DataLoss, DeadlineExceeded (the call's
// own deadline, per attempt) and ResourceExhausted (the server is
// shedding). Application answers (NotFound, InvalidArgument,
// PermissionDenied, …) are successes of the endpoint; Canceled is
// ignored.
func IsFailure(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	switch status.Code(err) {
	case codes.Unavailable, codes.Unknown, codes.Internal, codes.DataLoss,
		codes.DeadlineExceeded, codes.ResourceExhausted:
		return true
	}
	return false
}
