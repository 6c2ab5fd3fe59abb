package lb_test

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scalekit-go/scalekit/clock"
	"github.com/scalekit-go/scalekit/lb"
)

// dnsServer is a tiny in-test DNS server on loopback UDP answering A and
// SRV questions from maps the test changes.
type dnsServer struct {
	pc   net.PacketConn
	mu   sync.Mutex
	a    map[string][]net.IP
	srv  map[string][]net.SRV
	fail bool
}

func newDNSServer(t *testing.T) *dnsServer {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &dnsServer{pc: pc, a: map[string][]net.IP{}, srv: map[string][]net.SRV{}}
	go s.serve()
	t.Cleanup(func() { _ = pc.Close() })
	return s
}

// resolver returns a net.Resolver that asks only s.
func (s *dnsServer) resolver() *net.Resolver {
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "udp", s.pc.LocalAddr().String())
	}}
}

func (s *dnsServer) set(f func()) { s.mu.Lock(); f(); s.mu.Unlock() }

func (s *dnsServer) serve() {
	buf := make([]byte, 512)
	for {
		n, from, err := s.pc.ReadFrom(buf)
		if err != nil {
			return
		}
		if resp := s.answer(buf[:n]); resp != nil {
			_, _ = s.pc.WriteTo(resp, from)
		}
	}
}

func (s *dnsServer) answer(q []byte) []byte {
	if len(q) < 12 {
		return nil
	}
	// Question: labels, then type and class.
	i, labels := 12, []string{}
	for i < len(q) && q[i] != 0 {
		l := int(q[i])
		if i+1+l > len(q) {
			return nil
		}
		labels = append(labels, string(q[i+1:i+1+l]))
		i += 1 + l
	}
	if i+5 > len(q) {
		return nil
	}
	qtype := binary.BigEndian.Uint16(q[i+1:])
	question := q[12 : i+5]
	name := strings.ToLower(strings.Join(labels, "."))
	var answers [][]byte
	s.mu.Lock()
	rcode := uint16(0)
	if s.fail {
		rcode = 2 // SERVFAIL
	}
	switch qtype {
	case 1: // A
		for _, ip := range s.a[name] {
			answers = append(answers, rr(1, ip.To4()))
		}
	case 33: // SRV
		for _, r := range s.srv[name] {
			data := binary.BigEndian.AppendUint16(nil, r.Priority)
			data = binary.BigEndian.AppendUint16(data, r.Weight)
			data = binary.BigEndian.AppendUint16(data, r.Port)
			for _, l := range strings.Split(strings.TrimSuffix(r.Target, "."), ".") {
				data = append(append(data, byte(len(l))), l...)
			}
			answers = append(answers, rr(33, append(data, 0)))
		}
	}
	s.mu.Unlock()
	if rcode != 0 {
		answers = nil
	}
	h := make([]byte, 12)
	copy(h, q[:2])
	binary.BigEndian.PutUint16(h[2:], 0x8180|rcode)
	binary.BigEndian.PutUint16(h[4:], 1)
	binary.BigEndian.PutUint16(h[6:], uint16(len(answers)))
	out := append(h, question...)
	for _, a := range answers {
		out = append(out, a...)
	}
	return out
}

// rr is one answer record whose name points at the question's name.
func rr(typ uint16, data []byte) []byte {
	b := []byte{0xC0, 12}
	b = binary.BigEndian.AppendUint16(b, typ)
	b = binary.BigEndian.AppendUint16(b, 1)
	b = binary.BigEndian.AppendUint32(b, 30)
	b = binary.BigEndian.AppendUint16(b, uint16(len(data)))
	return append(b, data...)
}

// watch runs r and delivers its updates on a channel.
func watch(t *testing.T, r lb.Resolver) <-chan []lb.Endpoint {
	ch := make(chan []lb.Endpoint, 16)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = r.Watch(ctx, func(e []lb.Endpoint) { ch <- e }) }()
	t.Cleanup(func() { cancel(); <-done })
	return ch
}

func next(t *testing.T, ch <-chan []lb.Endpoint) []lb.Endpoint {
	t.Helper()
	select {
	case e := <-ch:
		return e
	case <-time.After(5 * time.Second):
		t.Fatal("no resolver update")
		return nil
	}
}

func addrs(eps []lb.Endpoint) string {
	var s []string
	for _, e := range eps {
		s = append(s, e.Addr)
	}
	return strings.Join(s, ",")
}

func TestDNSResolverReResolves(t *testing.T) {
	srv := newDNSServer(t)
	srv.set(func() { srv.a["api.test"] = []net.IP{net.ParseIP("10.0.0.2"), net.ParseIP("10.0.0.1")} })
	clk := clock.NewFake(t0)
	errs := make(chan error, 16)
	r, err := lb.DNS("api.test.", 8080, &lb.DNSOptions{Resolver: srv.resolver(), Interval: 10 * time.Second,
		Clock: clk, OnError: func(err error) { errs <- err }})
	if err != nil {
		t.Fatal(err)
	}
	ch := watch(t, r)
	if got := addrs(next(t, ch)); got != "10.0.0.1:8080,10.0.0.2:8080" {
		t.Fatalf("first set %s", got)
	}
	tick := func() {
		t.Helper()
		if err := clk.BlockUntil(context.Background(), 1); err != nil {
			t.Fatal(err)
		}
		clk.Advance(10 * time.Second)
	}
	// Unchanged: no update. Changed: an update.
	tick()
	srv.set(func() { srv.a["api.test"] = append(srv.a["api.test"], net.ParseIP("10.0.0.3")) })
	tick()
	if got := addrs(next(t, ch)); got != "10.0.0.1:8080,10.0.0.2:8080,10.0.0.3:8080" {
		t.Fatalf("after change %s", got)
	}
	// Server failure: the error is reported and the set kept.
	srv.set(func() { srv.fail = true })
	tick()
	select {
	case <-errs:
	case <-time.After(5 * time.Second):
		t.Fatal("lookup failure not reported")
	}
	srv.set(func() { srv.fail = false; srv.a["api.test"] = srv.a["api.test"][:1] })
	tick()
	if got := addrs(next(t, ch)); got != "10.0.0.2:8080" {
		t.Fatalf("after recovery %s", got)
	}
	select {
	case e := <-ch:
		t.Fatalf("unexpected update %v", e)
	default:
	}
}

func TestSRVResolver(t *testing.T) {
	srv := newDNSServer(t)
	srv.set(func() {
		srv.srv["_http._tcp.web.test"] = []net.SRV{
			{Target: "b.web.test.", Port: 81, Priority: 10, Weight: 3},
			{Target: "a.web.test.", Port: 80, Priority: 10, Weight: 1},
			{Target: "backup.web.test.", Port: 80, Priority: 20, Weight: 1},
		}
	})
	r, err := lb.SRV("http", "tcp", "web.test.", &lb.DNSOptions{Resolver: srv.resolver(), Clock: clock.NewFake(t0)})
	if err != nil {
		t.Fatal(err)
	}
	eps := next(t, watch(t, r))
	if len(eps) != 2 || eps[0] != (lb.Endpoint{Addr: "a.web.test:80", Weight: 1}) || eps[1] != (lb.Endpoint{Addr: "b.web.test:81", Weight: 3}) {
		t.Fatalf("SRV endpoints %v, want the two priority-10 targets with weights", eps)
	}
}

func TestDNSInjectedLookupAndBadInput(t *testing.T) {
	calls := 0
	r, _ := lb.DNS("svc", 80, &lb.DNSOptions{Clock: clock.NewFake(t0), LookupHost: func(ctx context.Context, host string) ([]string, error) {
		calls++
		return []string{"::1", "127.0.0.1"}, nil
	}})
	if got := addrs(next(t, watch(t, r))); got != "127.0.0.1:80,[::1]:80" {
		t.Fatalf("got %s", got)
	}
	for _, bad := range []func() (lb.Resolver, error){
		func() (lb.Resolver, error) { return lb.DNS("", 80, nil) },
		func() (lb.Resolver, error) { return lb.DNS("x", 0, nil) },
		func() (lb.Resolver, error) { return lb.DNS("x", 70000, nil) },
		func() (lb.Resolver, error) { return lb.SRV("a", "tcp", "", nil) },
	} {
		if _, err := bad(); err == nil {
			t.Error("bad resolver input accepted")
		}
	}
	// A balancer opened on a resolver whose first lookup keeps failing
	// gives up when ctx ends.
	failing, _ := lb.DNS("svc", 80, &lb.DNSOptions{Interval: time.Millisecond,
		LookupHost: func(context.Context, string) ([]string, error) { return nil, errors.New("nxdomain") }})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := lb.Open(ctx, failing, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Open: %v", err)
	}
}
