package grpcx

import (
	"context"
	"errors"
	"strings"

	"google.golang.org/grpc/resolver"

	"github.com/scalekit-go/scalekit/lb"
)

// EtcdScheme is the conventional scheme of an lb/etcdlb-backed resolver:
// grpc.NewClient("scalekit-etcd:///orders") with
//
//	grpcx.NewResolverBuilder(grpcx.EtcdScheme, func(service string) (lb.Resolver, error) {
//		return etcdlb.NewResolver(cli, "/services/"+service, nil)
//	})
//
// passed to grpc.WithResolvers (or registered with resolver.Register).
// grpcx itself does not import etcd.
const EtcdScheme = "scalekit-etcd"

// NewResolverBuilder returns a grpc resolver.Builder for scheme over any
// scalekit lb.Resolver (lb.Static, lb.DNS, lb.SRV, etcdlb.Resolver):
// source is called with the target's service name (its endpoint path,
// "orders" in "scheme:///orders") and every endpoint set it reports
// becomes the ClientConn's address list, weights included
// (WithAddressWeight). A Watch error other than the end of the
// ClientConn is reported to grpc with ReportError.
func NewResolverBuilder(scheme string, source func(service string) (lb.Resolver, error)) resolver.Builder {
	return &lbResolverBuilder{scheme: scheme, source: source}
}

type lbResolverBuilder struct {
	scheme string
	source func(string) (lb.Resolver, error)
}

func (b *lbResolverBuilder) Scheme() string { return b.scheme }

func (b *lbResolverBuilder) Build(t resolver.Target, cc resolver.ClientConn, _ resolver.BuildOptions) (resolver.Resolver, error) {
	service := strings.TrimPrefix(t.Endpoint(), "/")
	if service == "" {
		return nil, errors.New("grpcx: " + b.scheme + " target names no service")
	}
	src, err := b.source(service)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &lbResolver{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		err := src.Watch(ctx, func(eps []lb.Endpoint) {
			addrs := make([]resolver.Address, 0, len(eps))
			for _, e := range eps {
				addrs = append(addrs, WithAddressWeight(resolver.Address{Addr: e.Addr}, e.Weight))
			}
			_ = cc.UpdateState(resolver.State{Addresses: addrs})
		})
		if err != nil && ctx.Err() == nil {
			cc.ReportError(err)
		}
	}()
	return r, nil
}

type lbResolver struct {
	cancel context.CancelFunc
	done   chan struct{}
}

func (r *lbResolver) ResolveNow(resolver.ResolveNowOptions) {}

func (r *lbResolver) Close() {
	r.cancel()
	<-r.done
}
