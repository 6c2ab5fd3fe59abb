package lb

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// TCPProxyOptions configures a TCPProxy. A nil *TCPProxyOptions means the
// defaults.
type TCPProxyOptions struct {
	// ConnectTimeout bounds each connection attempt to an endpoint
	// (default 5 s).
	ConnectTimeout time.Duration
	// MaxAttempts bounds the endpoints tried for one client connection
	// when connecting fails (default 3). Nothing has been sent upstream
	// before the connection is up, so retrying is always safe.
	MaxAttempts int
	// Dial opens upstream connections (default a net.Dialer).
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// OnError, if set, receives connection errors: failed connects, no
	// endpoint available, connections refused over MaxConns
	// (ErrTooManyConns), and broken connections (*ProxyError: a read or
	// write on either side failed, for example a reset).
	OnError func(error)
	// IdleTimeout closes a connection after this long without a byte in
	// either direction (default 10 minutes, as nginx's proxy_timeout;
	// negative: never).
	IdleTimeout time.Duration
	// HalfCloseTimeout closes a connection this long after one side sent
	// EOF if the other side has gone silent (default 30 s; negative:
	// never): a client that half-closed against a backend that never
	// answers does not hold the connection for ever.
	HalfCloseTimeout time.Duration
	// MaxConns caps the connections served at once; more are closed as
	// soon as they are accepted and reported as ErrTooManyConns (default
	// 10,000; negative: no cap).
	MaxConns int
}

// ErrTooManyConns is reported (OnError) for a connection refused because
// MaxConns connections were open.
var ErrTooManyConns = errors.New("lb: too many connections")

// ProxyError is a connection that broke while TCPProxy copied it.
type ProxyError struct {
	// Side is "client" or "upstream": the connection that failed.
	Side string
	// Op is "read" or "write".
	Op string
	// Addr is the endpoint address.
	Addr string
	// Err is the error of the read or write.
	Err error
}

func (e *ProxyError) Error() string {
	return "lb: tcp proxy " + e.Side + " " + e.Op + " (endpoint " + e.Addr + "): " + e.Err.Error()
}

// Unwrap returns Err.
func (e *ProxyError) Unwrap() error { return e.Err }

// TCPProxy is an L4 load balancer: for each accepted connection it picks
// an endpoint (use LeastConn for long-lived connections; ConsistentHash
// hashes the client IP), connects within
// ConnectTimeout, trying other endpoints when connecting fails, and copies
// bytes both ways until both sides have closed, passing a half-close (EOF)
// on. A connection idle for IdleTimeout, or half-closed and silent for
// HalfCloseTimeout, is closed; at most MaxConns are served at once. A
// broken connection is reported as a *ProxyError, and to the Balancer as a
// failure when the endpoint's side broke. An endpoint removed from the
// Balancer keeps its connections until they end or its drain deadline
// passes; then they are closed. Close and an expired Shutdown close both
// sides of every connection and return once every goroutine has ended.
//
// A TCPProxy is safe for concurrent use. Serve may be called on several
// listeners; Shutdown and Close stop all of them.
type TCPProxy struct {
	bal  *Balancer
	opts TCPProxyOptions

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	conns     map[net.Conn]struct{}
	closed    bool
	wg        sync.WaitGroup

	// kill is cancelled to tear every connection down (Close, or an
	// expired Shutdown); connects in progress are cancelled too.
	kill       context.Context
	killCancel context.CancelFunc
}

// NewTCPProxy returns a proxy to the endpoints of b.
func NewTCPProxy(b *Balancer, o *TCPProxyOptions) *TCPProxy {
	var opts TCPProxyOptions
	if o != nil {
		opts = *o
	}
	if opts.ConnectTimeout <= 0 {
		opts.ConnectTimeout = 5 * time.Second
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = 3
	}
	if opts.Dial == nil {
		var d net.Dialer
		opts.Dial = d.DialContext
	}
	opts.IdleTimeout = tcpDefault(opts.IdleTimeout, 10*time.Minute)
	opts.HalfCloseTimeout = tcpDefault(opts.HalfCloseTimeout, 30*time.Second)
	if opts.MaxConns == 0 {
		opts.MaxConns = 10000
	}
	p := &TCPProxy{bal: b, opts: opts, listeners: map[net.Listener]struct{}{}, conns: map[net.Conn]struct{}{}}
	p.kill, p.killCancel = context.WithCancel(context.Background())
	return p
}

// tcpDefault maps 0 to def and a negative d to none (0).
func tcpDefault(d, def time.Duration) time.Duration {
	switch {
	case d == 0:
		return def
	case d < 0:
		return 0
	}
	return d
}

// Conns returns the number of client connections being served.
func (p *TCPProxy) Conns() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.conns)
}

// Serve accepts connections on l until Shutdown or Close (it then returns
// ErrClosed) or until Accept fails for good.
func (p *TCPProxy) Serve(l net.Listener) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return ErrClosed
	}
	p.listeners[l] = struct{}{}
	p.mu.Unlock()
	var delay time.Duration
	for {
		c, err := l.Accept()
		if err != nil {
			p.mu.Lock()
			closed := p.closed
			p.mu.Unlock()
			if closed {
				return ErrClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				time.Sleep(delay) // back off on EMFILE and the like
				continue
			}
			return err
		}
		delay = 0
		if ok, full := p.track(c, true); !ok {
			_ = c.Close()
			if !full {
				return ErrClosed
			}
			p.report(ErrTooManyConns)
			continue
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			defer p.track(c, false)
			p.handle(c)
		}()
	}
}

// track adds or removes a client connection; ok is false when it may not
// be added, full telling a cap from a closed proxy.
func (p *TCPProxy) track(c net.Conn, add bool) (ok, full bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if add {
		if p.closed {
			return false, false
		}
		if p.opts.MaxConns > 0 && len(p.conns) >= p.opts.MaxConns {
			return false, true
		}
		p.conns[c] = struct{}{}
	} else {
		delete(p.conns, c)
	}
	return true, false
}

func (p *TCPProxy) report(err error) {
	if p.opts.OnError != nil {
		p.opts.OnError(err)
	}
}

// handle serves one client connection.
func (p *TCPProxy) handle(client net.Conn) {
	defer client.Close()
	// The client IP is the key of hash policies (IP hash at L4).
	var info PickInfo
	if host, _, err := net.SplitHostPort(client.RemoteAddr().String()); err == nil {
		info.Key = host
	}
	for attempt := 0; attempt < p.opts.MaxAttempts; attempt++ {
		r, err := p.bal.Pick(info)
		if err != nil {
			p.report(err)
			return
		}
		ctx, cancel := context.WithTimeout(p.kill, p.opts.ConnectTimeout)
		up, err := p.opts.Dial(ctx, "tcp", r.Backend.Addr())
		cancel()
		if err != nil {
			if p.kill.Err() != nil { // closing: not the endpoint's fault
				r.Done(DoneInfo{Err: context.Canceled})
				return
			}
			r.Done(DoneInfo{Err: err})
			p.report(err)
			info.Avoid = append(info.Avoid, r.Backend)
			continue
		}
		n, err := p.pipe(client, up, r.Backend)
		var pe *ProxyError
		if errors.As(err, &pe) {
			p.report(err)
			if pe.Side == "client" {
				err = nil // the client broke: not the endpoint's failure
			}
		}
		r.Done(DoneInfo{Bytes: n, Err: err})
		return
	}
}

// halfResult is the end of one copy direction.
type halfResult struct {
	n   int64
	err error // nil: EOF passed on
}

// pipe copies both ways until both directions end, one breaks, the
// connection idles out, the endpoint is closed after draining, or the
// proxy is closed; it then closes both sides. It returns the bytes moved
// and the first *ProxyError, if a side broke.
func (p *TCPProxy) pipe(client, up net.Conn, be *Backend) (int64, error) {
	st := &pipeState{idle: p.opts.IdleTimeout, fin: p.opts.HalfCloseTimeout}
	st.touch()
	res := make(chan halfResult, 2)
	go st.copy(res, up, client, "client", "upstream", be.Addr())
	go st.copy(res, client, up, "upstream", "client", be.Addr())
	var (
		total    int64
		firstErr error
		gone     = be.Closed()
		kill     = p.kill.Done()
	)
	teardown := func() {
		if st.closing.CompareAndSwap(false, true) {
			_ = client.Close()
			_ = up.Close()
		}
	}
	for done := 0; done < 2; {
		select {
		case r := <-res:
			done++
			total += r.n
			if r.err != nil {
				if firstErr == nil && !errors.Is(r.err, errIdle) {
					firstErr = r.err
				}
				teardown()
			}
		case <-gone:
			gone = nil
			teardown()
		case <-kill:
			kill = nil
			teardown()
		}
	}
	teardown()
	return total, firstErr
}

// errIdle ends a direction that timed out (idle or half-closed and
// silent): the connection is closed, but nothing broke.
var errIdle = errors.New("lb: connection idle")

// pipeState is shared by the two copy directions of one connection.
type pipeState struct {
	idle, fin  time.Duration // 0: none
	last       atomic.Int64  // unix nanoseconds of the last byte either way
	halfClosed atomic.Bool
	closing    atomic.Bool // pipe is closing both sides: errors are ours
}

func (s *pipeState) touch() { s.last.Store(time.Now().UnixNano()) }

// limit is how long the connection may stay silent now.
func (s *pipeState) limit() time.Duration {
	l := s.idle
	if s.halfClosed.Load() && s.fin > 0 && (l == 0 || s.fin < l) {
		l = s.fin
	}
	return l
}

// deadline is when the connection idles out, or zero for never.
func (s *pipeState) deadline() time.Time {
	l := s.limit()
	if l == 0 {
		return time.Time{}
	}
	return time.Unix(0, s.last.Load()).Add(l)
}

// copy moves src to dst until src's EOF (passed on as a half-close), a
// failure (a *ProxyError naming the side), or the silence limit.
func (s *pipeState) copy(res chan<- halfResult, dst, src net.Conn, srcSide, dstSide, addr string) {
	buf := make([]byte, 32<<10)
	var n int64
	fail := func(side, op string, err error) {
		if s.closing.Load() {
			err = nil // we closed it
		} else {
			err = &ProxyError{Side: side, Op: op, Addr: addr, Err: err}
		}
		if err == nil {
			err = errIdle // any non-nil value tears down; not reported
		}
		res <- halfResult{n, err}
	}
	// Deadlines are armed lazily: setting one costs a timer update in the
	// runtime, more than the read or write itself for small messages. A
	// deadline is moved only when the idle limit would now end earlier
	// (a half-close shortened it) or more than half of it has passed
	// since it was set; a timeout that finds newer activity re-arms
	// (below), so connections still close exactly when they have been
	// silent for the limit.
	var readDL, writeDL time.Time
	for {
		if dl := s.deadline(); rearm(dl, readDL, s.limit()) {
			_ = src.SetReadDeadline(dl)
			readDL = dl
		}
		k, rerr := src.Read(buf)
		if k > 0 {
			s.touch()
			if dl := s.deadline(); rearm(dl, writeDL, s.limit()) {
				_ = dst.SetWriteDeadline(dl)
				writeDL = dl
			}
			for off := 0; off < k; {
				w, werr := dst.Write(buf[off:k])
				off += w
				n += int64(w)
				if werr == nil {
					continue
				}
				if isTimeout(werr) && !s.closing.Load() {
					if d := s.deadline(); !d.IsZero() && time.Now().Before(d) {
						_ = dst.SetWriteDeadline(d) // armed early: not silent yet
						writeDL = d
						continue
					}
					res <- halfResult{n, errIdle}
					return
				}
				fail(dstSide, "write", werr)
				return
			}
		}
		if rerr == nil {
			continue
		}
		if rerr == io.EOF {
			// Pass the half-close on, and from now on the other direction
			// (reading dst) may stay silent only HalfCloseTimeout.
			s.halfClosed.Store(true)
			if cw, ok := dst.(interface{ CloseWrite() error }); ok {
				_ = cw.CloseWrite()
			} else {
				_ = dst.Close()
			}
			_ = dst.SetReadDeadline(s.deadline())
			res <- halfResult{n, nil}
			return
		}
		if isTimeout(rerr) && !s.closing.Load() {
			if d := s.deadline(); !d.IsZero() && time.Now().Before(d) {
				readDL = time.Time{} // re-arm: bytes moved meanwhile
				continue
			}
			res <- halfResult{n, errIdle}
			return
		}
		fail(srcSide, "read", rerr)
		return
	}
}

// rearm reports whether a connection deadline set to cur must move to
// want: want is earlier (or cur is unset), or later by more than half the
// limit l. Zero want (no limit) clears a set deadline.
func rearm(want, cur time.Time, l time.Duration) bool {
	switch {
	case want.IsZero():
		return !cur.IsZero()
	case cur.IsZero() || want.Before(cur):
		return true
	}
	return want.Sub(cur) > l/2
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// Shutdown stops accepting, then waits for open connections to end until
// ctx ends, when it closes both sides of each, waits for their goroutines
// and returns ctx.Err().
func (p *TCPProxy) Shutdown(ctx context.Context) error {
	p.stopAccepting()
	done := make(chan struct{})
	go func() { p.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		p.killCancel()
		p.closeConns()
		<-done
		return ctx.Err()
	}
}

// Close stops accepting and closes both sides of every connection at once,
// returning when every connection goroutine has ended.
func (p *TCPProxy) Close() error {
	p.stopAccepting()
	p.killCancel()
	p.closeConns()
	p.wg.Wait()
	return nil
}

func (p *TCPProxy) stopAccepting() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for l := range p.listeners {
		_ = l.Close()
	}
}

func (p *TCPProxy) closeConns() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		_ = c.Close()
	}
}
