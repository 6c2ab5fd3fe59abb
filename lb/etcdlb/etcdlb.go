package etcdlb

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/scalekit-go/scalekit/clock"
	"github.com/scalekit-go/scalekit/internal/backoff"
	"github.com/scalekit-go/scalekit/lb"
)

// MinTTL is the shortest registration lease: etcd counts lease time in
// whole seconds.
const MinTTL = time.Second

// DefaultTTL is the registration lease when RegisterOptions.TTL is zero.
const DefaultTTL = 10 * time.Second

// record is the JSON value stored under prefix+addr.
type record struct {
	Addr   string `json:"addr"`
	Weight int    `json:"weight,omitempty"`
}

func checkArgs(cli *clientv3.Client, prefix string) error {
	if cli == nil {
		return errors.New("etcdlb: nil etcd client")
	}
	if prefix == "" {
		return errors.New("etcdlb: empty key prefix")
	}
	return nil
}

// RegisterOptions configures Register. A nil *RegisterOptions means the
// defaults.
type RegisterOptions struct {
	// TTL is the lease of the registration (default DefaultTTL, at least
	// MinTTL). A crashed server stays registered for up to TTL.
	TTL time.Duration
}

// Registration is a server's entry in the registry, alive while its lease
// is kept alive.
type Registration struct {
	cli   *clientv3.Client
	key   string
	lease clientv3.LeaseID

	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
	mu     sync.Mutex
	err    error
}

// Register writes ep under prefix (the key is prefix+ep.Addr) with a lease
// of opts.TTL and keeps the lease alive in the background until Close, or
// until the lease is lost (then Done is closed and Err says why). It
// returns an error if the arguments are invalid or etcd cannot be reached
// within ctx.
func Register(ctx context.Context, cli *clientv3.Client, prefix string, ep lb.Endpoint, opts *RegisterOptions) (*Registration, error) {
	if err := checkArgs(cli, prefix); err != nil {
		return nil, err
	}
	if ep.Addr == "" || strings.ContainsAny(ep.Addr, " \t\n") {
		return nil, fmt.Errorf("etcdlb: invalid endpoint address %q", ep.Addr)
	}
	if ep.Weight < 0 {
		return nil, fmt.Errorf("etcdlb: negative weight %d for %s", ep.Weight, ep.Addr)
	}
	ttl := DefaultTTL
	if opts != nil && opts.TTL != 0 {
		ttl = opts.TTL
	}
	if ttl < MinTTL {
		return nil, fmt.Errorf("etcdlb: TTL %v is below the minimum %v", ttl, MinTTL)
	}
	val, err := json.Marshal(record{Addr: ep.Addr, Weight: ep.Weight})
	if err != nil {
		return nil, err
	}
	grant, err := cli.Grant(ctx, int64((ttl+time.Second-1)/time.Second))
	if err != nil {
		return nil, fmt.Errorf("etcdlb: grant lease: %w", err)
	}
	key := prefix + ep.Addr
	if _, err := cli.Put(ctx, key, string(val), clientv3.WithLease(grant.ID)); err != nil {
		revokeQuietly(cli, grant.ID)
		return nil, fmt.Errorf("etcdlb: register %s: %w", key, err)
	}
	kctx, cancel := context.WithCancel(context.Background())
	ka, err := cli.KeepAlive(kctx, grant.ID)
	if err != nil {
		cancel()
		revokeQuietly(cli, grant.ID)
		return nil, fmt.Errorf("etcdlb: keep lease alive: %w", err)
	}
	r := &Registration{cli: cli, key: key, lease: grant.ID, cancel: cancel, done: make(chan struct{})}
	go func() {
		for range ka { // drain keepalive answers until the channel closes
		}
		r.end(errors.New("etcdlb: registration lease lost (expired, revoked or keepalive stopped)"))
	}()
	return r, nil
}

func revokeQuietly(cli *clientv3.Client, id clientv3.LeaseID) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, _ = cli.Revoke(ctx, id)
}

func (r *Registration) end(err error) {
	r.once.Do(func() {
		r.mu.Lock()
		r.err = err
		r.mu.Unlock()
		close(r.done)
	})
}

// Key returns the etcd key of the registration.
func (r *Registration) Key() string { return r.key }

// Done is closed when the registration ends: after Close, or when its
// lease is lost.
func (r *Registration) Done() <-chan struct{} { return r.done }

// Err returns why the registration ended, or nil while it is alive or
// after Close.
func (r *Registration) Err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

// Close stops the keepalive and revokes the lease, which deletes the key:
// every Resolver drops the endpoint at once.
func (r *Registration) Close(ctx context.Context) error {
	r.end(nil)
	r.cancel()
	if _, err := r.cli.Revoke(ctx, r.lease); err != nil {
		return fmt.Errorf("etcdlb: deregister %s: %w", r.key, err)
	}
	return nil
}

// ResolverOptions configures NewResolver. A nil *ResolverOptions means the
// defaults.
type ResolverOptions struct {
	// Retry is the backoff between attempts after etcd errors (default
	// 100 ms initial, 5 s cap, full jitter, no limit).
	Retry backoff.Policy
	// OnError, if set, is called with every etcd error and every value
	// under the prefix that is not a valid registration.
	OnError func(error)
	// Clock drives the retry backoff (default the real clock).
	Clock clock.Clock
}

// Resolver is an lb.Resolver over the registrations under one prefix.
type Resolver struct {
	cli    *clientv3.Client
	prefix string
	opts   ResolverOptions
}

var _ lb.Resolver = (*Resolver)(nil)

// NewResolver returns a Resolver of the endpoints registered under prefix.
// It does no I/O.
func NewResolver(cli *clientv3.Client, prefix string, opts *ResolverOptions) (*Resolver, error) {
	if err := checkArgs(cli, prefix); err != nil {
		return nil, err
	}
	var o ResolverOptions
	if opts != nil {
		o = *opts
	}
	if o.Retry == (backoff.Policy{}) {
		o.Retry = backoff.Policy{Initial: 100 * time.Millisecond, Max: 5 * time.Second}
	}
	return &Resolver{cli: cli, prefix: prefix, opts: o}, nil
}

// Watch reports the registered endpoints, sorted by address, to update:
// once after listing the prefix, then after every change. etcd errors are
// retried with backoff and reported to OnError; Watch returns nil when ctx
// ends.
func (r *Resolver) Watch(ctx context.Context, update func([]lb.Endpoint)) error {
	bo := backoff.New(r.opts.Retry, r.opts.Clock)
	var last []lb.Endpoint
	first := true
	publish := func(set map[string]lb.Endpoint) {
		eps := make([]lb.Endpoint, 0, len(set))
		for _, ep := range set {
			eps = append(eps, ep)
		}
		slices.SortFunc(eps, func(a, b lb.Endpoint) int { return strings.Compare(a.Addr, b.Addr) })
		if first || !slices.Equal(eps, last) {
			first = false
			last = eps
			update(slices.Clone(eps))
		}
	}
	for {
		rev, set, err := r.list(ctx)
		if err == nil {
			bo = backoff.New(r.opts.Retry, r.opts.Clock)
			publish(set)
			err = r.follow(ctx, rev, set, publish)
		}
		if ctx.Err() != nil {
			return nil
		}
		r.report(err)
		d, ok := bo.Next()
		if !ok {
			d = r.opts.Retry.Max
		}
		if clock.Sleep(ctx, r.opts.Clock, d) != nil {
			return nil
		}
	}
}

// list reads every registration under the prefix.
func (r *Resolver) list(ctx context.Context) (int64, map[string]lb.Endpoint, error) {
	resp, err := r.cli.Get(ctx, r.prefix, clientv3.WithPrefix())
	if err != nil {
		return 0, nil, fmt.Errorf("etcdlb: list %s: %w", r.prefix, err)
	}
	set := make(map[string]lb.Endpoint, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		if ep, ok := r.decode(kv.Key, kv.Value); ok {
			set[string(kv.Key)] = ep
		}
	}
	return resp.Header.Revision, set, nil
}

// follow applies the changes after rev to set until the watch fails or ctx
// ends.
func (r *Resolver) follow(ctx context.Context, rev int64, set map[string]lb.Endpoint, publish func(map[string]lb.Endpoint)) error {
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	for wr := range r.cli.Watch(wctx, r.prefix, clientv3.WithPrefix(), clientv3.WithRev(rev+1)) {
		if err := wr.Err(); err != nil {
			return fmt.Errorf("etcdlb: watch %s: %w", r.prefix, err)
		}
		for _, ev := range wr.Events {
			key := string(ev.Kv.Key)
			switch ev.Type {
			case clientv3.EventTypeDelete:
				delete(set, key)
			default:
				if ep, ok := r.decode(ev.Kv.Key, ev.Kv.Value); ok {
					set[key] = ep
				} else {
					delete(set, key)
				}
			}
		}
		publish(set)
	}
	return fmt.Errorf("etcdlb: watch %s closed", r.prefix)
}

func (r *Resolver) decode(key, val []byte) (lb.Endpoint, bool) {
	var rec record
	if err := json.Unmarshal(val, &rec); err != nil || rec.Addr == "" || rec.Weight < 0 {
		r.report(fmt.Errorf("etcdlb: ignoring %s: not a registration: %q", key, val))
		return lb.Endpoint{}, false
	}
	return lb.Endpoint{Addr: rec.Addr, Weight: rec.Weight}, true
}

func (r *Resolver) report(err error) {
	if err != nil && r.opts.OnError != nil {
		r.opts.OnError(err)
	}
}
