package lb

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/scalekit-go/scalekit/clock"
)

// Resolver discovers endpoints. Watch reports the full current set through
// update, first as soon as it is known and then every time it changes,
// until ctx ends (it then returns nil) or discovery fails for good (it
// returns the error). update must not be called concurrently with itself.
//
// Static and DNS are the resolvers of this package; a registry such as
// etcd, Consul or Kubernetes plugs in by implementing Watch (an etcd
// resolver belongs in the etcd nested module, which owns the etcd client).
type Resolver interface {
	Watch(ctx context.Context, update func([]Endpoint)) error
}

// ResolverFunc adapts a function to Resolver.
type ResolverFunc func(ctx context.Context, update func([]Endpoint)) error

// Watch calls f.
func (f ResolverFunc) Watch(ctx context.Context, update func([]Endpoint)) error {
	return f(ctx, update)
}

// Static returns a Resolver that reports endpoints once and never changes.
func Static(endpoints ...Endpoint) Resolver {
	eps := slices.Clone(endpoints)
	return ResolverFunc(func(ctx context.Context, update func([]Endpoint)) error {
		update(slices.Clone(eps))
		<-ctx.Done()
		return nil
	})
}

// DNSOptions configures DNS and SRV. A nil *DNSOptions means the defaults.
type DNSOptions struct {
	// Interval is the time between lookups (default 30 s). DNS TTLs are
	// not visible through net.Resolver, so the interval stands in for them.
	Interval time.Duration
	// Resolver performs the lookups (default net.DefaultResolver). Point it
	// at a specific server with its Dial field.
	Resolver *net.Resolver
	// LookupHost, if set, replaces Resolver for A/AAAA lookups.
	LookupHost func(ctx context.Context, host string) ([]string, error)
	// LookupSRV, if set, replaces Resolver for SRV lookups.
	LookupSRV func(ctx context.Context, service, proto, name string) (string, []*net.SRV, error)
	// OnError is called with lookup errors. The last good set stays in use.
	OnError func(error)
	// Clock drives the interval (default the real clock).
	Clock clock.Clock
}

func (o *DNSOptions) get() DNSOptions {
	var d DNSOptions
	if o != nil {
		d = *o
	}
	if d.Interval <= 0 {
		d.Interval = 30 * time.Second
	}
	r := d.Resolver
	if r == nil {
		r = net.DefaultResolver
	}
	if d.LookupHost == nil {
		d.LookupHost = r.LookupHost
	}
	if d.LookupSRV == nil {
		d.LookupSRV = r.LookupSRV
	}
	d.Clock = clock.Or(d.Clock)
	return d
}

// DNS returns a Resolver for the A and AAAA records of host, each address
// becoming endpoint "ip:port" with weight 1. It looks host up at once and
// then every Interval, reporting the set when it changes; a failed lookup
// keeps the previous set.
func DNS(host string, port int, o *DNSOptions) (Resolver, error) {
	if host == "" || port <= 0 || port > 65535 {
		return nil, fmt.Errorf("lb: DNS resolver needs a host and a port in 1..65535, got %q:%d", host, port)
	}
	d := o.get()
	p := strconv.Itoa(port)
	return dnsWatcher(d, func(ctx context.Context) ([]Endpoint, error) {
		ips, err := d.LookupHost(ctx, host)
		if err != nil {
			return nil, err
		}
		eps := make([]Endpoint, 0, len(ips))
		for _, ip := range ips {
			eps = append(eps, Endpoint{Addr: net.JoinHostPort(ip, p)})
		}
		return eps, nil
	}), nil
}

// SRV returns a Resolver for the SRV records _service._proto.name: each
// target becomes endpoint "target:port" with the record's weight (0 counts
// as 1). Only the records of the lowest (most preferred) priority are
// used. Re-resolution works as for DNS.
func SRV(service, proto, name string, o *DNSOptions) (Resolver, error) {
	if name == "" {
		return nil, errors.New("lb: SRV resolver needs a name")
	}
	d := o.get()
	return dnsWatcher(d, func(ctx context.Context) ([]Endpoint, error) {
		_, recs, err := d.LookupSRV(ctx, service, proto, name)
		if err != nil {
			return nil, err
		}
		if len(recs) == 0 {
			return nil, nil
		}
		best := recs[0].Priority
		for _, r := range recs {
			best = min(best, r.Priority)
		}
		var eps []Endpoint
		for _, r := range recs {
			if r.Priority != best {
				continue
			}
			host := strings.TrimSuffix(r.Target, ".")
			eps = append(eps, Endpoint{Addr: net.JoinHostPort(host, strconv.Itoa(int(r.Port))), Weight: int(r.Weight)})
		}
		return eps, nil
	}), nil
}

func dnsWatcher(d DNSOptions, lookup func(context.Context) ([]Endpoint, error)) Resolver {
	return ResolverFunc(func(ctx context.Context, update func([]Endpoint)) error {
		var last []Endpoint
		first := true
		for {
			eps, err := lookup(ctx)
			if ctx.Err() != nil {
				return nil
			}
			switch {
			case err != nil:
				if d.OnError != nil {
					d.OnError(err)
				}
			default:
				eps = sortEndpoints(eps)
				if first || !slices.Equal(eps, last) {
					update(slices.Clone(eps))
					last, first = eps, false
				}
			}
			if err := clock.Sleep(ctx, d.Clock, d.Interval); err != nil {
				return nil
			}
		}
	})
}

// sortEndpoints orders eps by address and drops repeated addresses, so
// that two lookups returning the same set in another order compare equal.
func sortEndpoints(eps []Endpoint) []Endpoint {
	slices.SortFunc(eps, func(a, b Endpoint) int { return strings.Compare(a.Addr, b.Addr) })
	return slices.CompactFunc(eps, func(a, b Endpoint) bool { return a.Addr == b.Addr })
}
