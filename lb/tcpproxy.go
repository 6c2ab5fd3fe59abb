package lb

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
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
	// OnError, if set, receives connection errors (failed connects, no
	// endpoint available).
	OnError func(error)
}

// TCPProxy is an L4 load balancer: for each accepted connection it picks
// an endpoint (use LeastConn for long-lived connections), connects within
// ConnectTimeout, trying other endpoints when connecting fails, and copies
// bytes both ways until either side closes. An endpoint removed from the
// Balancer keeps its connections until they end or its drain deadline
// passes; then they are closed.
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
	return &TCPProxy{bal: b, opts: opts, listeners: map[net.Listener]struct{}{}, conns: map[net.Conn]struct{}{}}
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
		if !p.track(c, true) {
			_ = c.Close()
			return ErrClosed
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			defer p.track(c, false)
			p.handle(c)
		}()
	}
}

func (p *TCPProxy) track(c net.Conn, add bool) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if add {
		if p.closed {
			return false
		}
		p.conns[c] = struct{}{}
	} else {
		delete(p.conns, c)
	}
	return true
}

func (p *TCPProxy) report(err error) {
	if p.opts.OnError != nil {
		p.opts.OnError(err)
	}
}

// handle serves one client connection.
func (p *TCPProxy) handle(client net.Conn) {
	defer client.Close()
	var info PickInfo
	for attempt := 0; attempt < p.opts.MaxAttempts; attempt++ {
		r, err := p.bal.Pick(info)
		if err != nil {
			p.report(err)
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), p.opts.ConnectTimeout)
		up, err := p.opts.Dial(ctx, "tcp", r.Backend.Addr())
		cancel()
		if err != nil {
			r.Done(DoneInfo{Err: err})
			p.report(err)
			info.Avoid = append(info.Avoid, r.Backend)
			continue
		}
		n := p.pipe(client, up, r.Backend.Closed())
		r.Done(DoneInfo{Bytes: n})
		return
	}
}

// pipe copies both ways until both directions end, or one fails, or the
// endpoint is closed after draining. It returns the bytes moved.
func (p *TCPProxy) pipe(client, up net.Conn, gone <-chan struct{}) int64 {
	defer up.Close()
	type result struct {
		n   int64
		err error
	}
	res := make(chan result, 2)
	cp := func(dst, src net.Conn) {
		n, err := io.Copy(dst, src)
		if err == nil { // src sent EOF: pass the half-close on
			if cw, ok := dst.(interface{ CloseWrite() error }); ok {
				_ = cw.CloseWrite()
			} else {
				_ = dst.Close()
			}
		}
		res <- result{n, err}
	}
	go cp(up, client)
	go cp(client, up)
	var total int64
	for done := 0; done < 2; {
		select {
		case r := <-res:
			done++
			total += r.n
			if r.err != nil { // a broken side: tear both down
				_ = client.Close()
				_ = up.Close()
			}
		case <-gone:
			gone = nil
			_ = client.Close()
			_ = up.Close()
		}
	}
	return total
}

// Shutdown stops accepting, then waits for open connections to end until
// ctx ends, when it closes them and returns ctx.Err().
func (p *TCPProxy) Shutdown(ctx context.Context) error {
	p.stopAccepting()
	done := make(chan struct{})
	go func() { p.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		p.closeConns()
		<-done
		return ctx.Err()
	}
}

// Close stops accepting and closes every connection at once.
func (p *TCPProxy) Close() error {
	p.stopAccepting()
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
