package httpx

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/scalekit-go/scalekit/clock"
)

// ServerOptions configure a Server. The zero value (or nil) gives
// production defaults.
type ServerOptions struct {
	// ReadHeaderTimeout bounds reading request headers (slowloris).
	// Default 10s.
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds reading a whole request. Default 60s.
	ReadTimeout time.Duration
	// WriteTimeout bounds writing a response. Default none: bound handlers
	// with the Timeout middleware instead, which streaming responses
	// survive.
	WriteTimeout time.Duration
	// IdleTimeout closes idle keep-alive connections. Default 120s.
	IdleTimeout time.Duration
	// MaxHeaderBytes caps request headers; larger ones get 431. Default
	// 64 KiB.
	MaxHeaderBytes int
	// Health, when set, is marked draining at the start of Shutdown so
	// /readyz fails while in-flight requests finish.
	Health *Health
	// DrainDelay is how long Shutdown keeps accepting requests after
	// marking Health draining, so load balancers notice before the
	// listener closes. Default 0.
	DrainDelay time.Duration
	// ShutdownTimeout bounds the drain when Run's context ends. Default 30s.
	ShutdownTimeout time.Duration
	// Logger receives net/http's own errors. Default slog.Default().
	Logger *slog.Logger
	// Clock times DrainDelay. Default real time.
	Clock clock.Clock
}

// Server is an http.Server with production timeouts and graceful shutdown:
// Shutdown fails readiness, optionally waits DrainDelay, stops accepting
// connections, closes idle ones and waits for in-flight requests to
// complete (their contexts are not cancelled); when its context ends first
// the remaining connections are closed. Safe for concurrent use; create one
// with NewServer.
type Server struct {
	hs  *http.Server
	o   ServerOptions
	clk clock.Clock
}

// NewServer returns a server for handler on addr (":8080"). It does no
// I/O.
func NewServer(addr string, handler http.Handler, opts *ServerOptions) *Server {
	var o ServerOptions
	if opts != nil {
		o = *opts
	}
	if o.ReadHeaderTimeout <= 0 {
		o.ReadHeaderTimeout = 10 * time.Second
	}
	if o.ReadTimeout <= 0 {
		o.ReadTimeout = 60 * time.Second
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = 120 * time.Second
	}
	if o.MaxHeaderBytes <= 0 {
		o.MaxHeaderBytes = 64 << 10
	}
	if o.ShutdownTimeout <= 0 {
		o.ShutdownTimeout = 30 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	hs := &http.Server{
		Addr:              addr,
		Handler:           handler,
		ReadHeaderTimeout: o.ReadHeaderTimeout,
		ReadTimeout:       o.ReadTimeout,
		WriteTimeout:      o.WriteTimeout,
		IdleTimeout:       o.IdleTimeout,
		MaxHeaderBytes:    o.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(o.Logger.Handler(), slog.LevelWarn),
	}
	return &Server{hs: hs, o: o, clk: clock.Or(o.Clock)}
}

// HTTPServer returns the underlying http.Server, for settings this type
// does not cover (TLSConfig, ConnState). Change it before serving.
func (s *Server) HTTPServer() *http.Server { return s.hs }

// Serve accepts connections on l until Shutdown; it returns nil after a
// graceful shutdown and the accept error otherwise.
func (s *Server) Serve(l net.Listener) error {
	if err := s.hs.Serve(l); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// ListenAndServe listens on the server's address and calls Serve.
func (s *Server) ListenAndServe() error {
	l, err := net.Listen("tcp", s.hs.Addr)
	if err != nil {
		return err
	}
	return s.Serve(l)
}

// Shutdown drains the server: readiness fails, DrainDelay passes, the
// listeners close, and Shutdown waits for in-flight requests to complete.
// If ctx ends first, the remaining connections are closed and ctx's error
// is returned.
func (s *Server) Shutdown(ctx context.Context) error {
	if s.o.Health != nil {
		s.o.Health.SetDraining(true)
	}
	if s.o.DrainDelay > 0 {
		if err := clock.Sleep(ctx, s.clk, s.o.DrainDelay); err != nil {
			_ = s.hs.Close()
			return err
		}
	}
	if err := s.hs.Shutdown(ctx); err != nil {
		_ = s.hs.Close()
		return err
	}
	return nil
}

// Run serves on l (or, when l is nil, on the server's address) until ctx
// ends, then shuts down gracefully within ShutdownTimeout. It returns nil
// after a clean drain.
func (s *Server) Run(ctx context.Context, l net.Listener) error {
	if l == nil {
		var err error
		if l, err = net.Listen("tcp", s.hs.Addr); err != nil {
			return err
		}
	}
	errc := make(chan error, 1)
	go func() { errc <- s.Serve(l) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.o.ShutdownTimeout)
	defer cancel()
	err := s.Shutdown(sctx)
	if serr := <-errc; err == nil {
		err = serr
	}
	return err
}
