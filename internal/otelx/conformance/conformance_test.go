package conformance_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/scalekit-go/scalekit/cache"
	"github.com/scalekit-go/scalekit/cache/memorycache"
	"github.com/scalekit-go/scalekit/httpx"
	"github.com/scalekit-go/scalekit/idgen"
	idgendriver "github.com/scalekit-go/scalekit/idgen/driver"
	"github.com/scalekit-go/scalekit/idgen/memidgen"
	"github.com/scalekit-go/scalekit/internal/testenv"
	"github.com/scalekit-go/scalekit/lb"
	"github.com/scalekit-go/scalekit/lock"
	lockdriver "github.com/scalekit-go/scalekit/lock/driver"
	"github.com/scalekit-go/scalekit/lock/memlock"
	"github.com/scalekit-go/scalekit/ratelimit"
	"github.com/scalekit-go/scalekit/ratelimit/driver"
	"github.com/scalekit-go/scalekit/ratelimit/memrate"
	"github.com/scalekit-go/scalekit/ratelimit/redisrate"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// env is the in-memory telemetry pipeline every package under test uses.
type env struct {
	mp     *sdkmetric.MeterProvider
	reader *sdkmetric.ManualReader
	tp     *sdktrace.TracerProvider
	spans  *tracetest.SpanRecorder
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestTelemetryMatchesDocs exercises every instrument and span and checks
// them against docs/metrics.md.
func TestTelemetryMatchesDocs(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	rec := tracetest.NewSpanRecorder()
	e := &env{
		mp: sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)), reader: reader,
		tp: sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec)), spans: rec,
	}
	ctx := context.Background()
	exerciseCache(ctx, t, e)
	exerciseLB(t, e)
	exerciseLock(ctx, t, e)
	exerciseRateLimit(ctx, t, e)
	exerciseIDGen(ctx, t, e)
	exerciseHTTPX(ctx, t, e)
	exerciseSketch(ctx, t, e)
	exerciseResilience(ctx, t, e)
	exerciseQueue(ctx, t, e)
	exerciseShard(ctx, t, e)
	exerciseSaga(ctx, t, e)
	checkMetrics(ctx, t, e)
	checkSpans(t, e)
	checkSpanNames(t, e)
}

func exerciseCache(ctx context.Context, t *testing.T, e *env) {
	store, err := memorycache.New(&memorycache.Options[string, cache.Entry[int]]{MaxEntries: 1})
	must(t, err)
	c, err := cache.NewLocal(store, &cache.Options[string, int]{Name: "local", MeterProvider: e.mp, TracerProvider: e.tp})
	must(t, err)
	t.Cleanup(func() { _ = c.Close(ctx) })
	must(t, c.Set(ctx, "a", 1))
	must(t, c.Set(ctx, "b", 2)) // evicts a
	_, _, _ = c.Get(ctx, "a")
	_, _, _ = c.Get(ctx, "b")
	_, _ = c.GetOrLoad(ctx, "x", func(context.Context, string) (int, error) { return 0, errors.New("down") })
	wb, err := cache.NewWriteBehind(c, func(context.Context, []cache.Pair[string, int]) error { return nil },
		&cache.WriteBehindOptions[string, int]{MeterProvider: e.mp})
	must(t, err)
	t.Cleanup(func() { _ = wb.Close(ctx) })

	bs, err := memorycache.NewBytes(&memorycache.BytesOptions{MaxEntries: 10})
	must(t, err)
	rc, err := cache.NewRemote(bs, &cache.Options[string, int]{Name: "remote", MeterProvider: e.mp, TracerProvider: e.tp})
	must(t, err)
	t.Cleanup(func() { _ = rc.Close(ctx) })
	must(t, rc.Set(ctx, "k", 1))
	_, _, _ = rc.Get(ctx, "k")
}

func exerciseLB(t *testing.T, e *env) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") }))
	t.Cleanup(srv.Close)
	b, err := lb.New([]lb.Endpoint{{Addr: srv.Listener.Addr().String()}},
		&lb.Options{Name: "users", MeterProvider: e.mp, Breaker: &lb.BreakerOptions{}})
	must(t, err)
	t.Cleanup(func() { _ = b.Close() })
	client := &http.Client{Transport: &lb.Transport{Balancer: b, TracerProvider: e.tp}}
	resp, err := client.Get("http://users/v1")
	must(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
}

// plain hides memlock's driver.Local marker, so that the Locker traces it
// as a networked backend.
type plain struct{ lockdriver.Locker }

func exerciseLock(ctx context.Context, t *testing.T, e *env) {
	m := memlock.New(nil)
	lk, err := lock.New(plain{m}, &lock.Options{Name: "jobs", MeterProvider: e.mp, TracerProvider: e.tp})
	must(t, err)
	l, err := lk.TryAcquire(ctx, "k", nil)
	must(t, err)
	_, _ = lk.TryAcquire(ctx, "k", nil) // locked
	m.Expire("k")
	if l.Renew(ctx) == nil {
		t.Fatal("Renew after Expire succeeded")
	}
	l2, err := lk.Acquire(ctx, "k", nil)
	must(t, err)
	must(t, l2.Release(ctx))
}

// failing is a ratelimit backend that cannot decide.
type failing struct{ lim driver.Limit }

func (f failing) Limit() driver.Limit { return f.lim }
func (f failing) Allow(context.Context, string, int) (driver.Decision, error) {
	return driver.Decision{}, errors.New("backend down")
}

func exerciseRateLimit(ctx context.Context, t *testing.T, e *env) {
	lim := ratelimit.Limit{Algorithm: ratelimit.GCRA, Rate: 1, Period: time.Hour, Burst: 1}
	d, err := memrate.NewDriver(lim, nil)
	must(t, err)
	l, err := ratelimit.New(d, &ratelimit.Options{Name: "api", MeterProvider: e.mp})
	must(t, err)
	_, _ = l.Allow(ctx, "k", 1)
	_, _ = l.Allow(ctx, "k", 1) // denied
	fl, err := ratelimit.New(failing{lim}, &ratelimit.Options{Name: "broken", MeterProvider: e.mp})
	must(t, err)
	_, _ = fl.Allow(ctx, "k", 1)

	rd, err := redisrate.New(testenv.RedisClient(t), lim,
		&redisrate.Options{Name: "api", TracerProvider: e.tp, Prefix: fmt.Sprintf("conformance:%d:", time.Now().UnixNano())})
	must(t, err)
	_, err = rd.Allow(ctx, "k", 1)
	must(t, err)
}

// gatedSource hands out the first block at once and later ones only after
// open is closed, so that the Segment stalls.
type gatedSource struct {
	idgendriver.SegmentSource
	mu    sync.Mutex
	calls int
	open  chan struct{}
}

func (g *gatedSource) NextBlock(ctx context.Context, name string, size int64) (int64, error) {
	g.mu.Lock()
	g.calls++
	first := g.calls == 1
	g.mu.Unlock()
	if !first {
		select {
		case <-g.open:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
	return g.SegmentSource.NextBlock(ctx, name, size)
}

func exerciseIDGen(ctx context.Context, t *testing.T, e *env) {
	src := &gatedSource{SegmentSource: memidgen.NewSource(), open: make(chan struct{})}
	seg, err := idgen.NewSegment(src, "orders", &idgen.SegmentOptions{BlockSize: 1, MeterProvider: e.mp, TracerProvider: e.tp})
	must(t, err)
	t.Cleanup(func() { _ = seg.Close() })
	_, err = seg.Next(ctx)
	must(t, err)
	done := make(chan error, 1)
	go func() { _, err := seg.Next(ctx); done <- err }()
	for deadline := time.Now().Add(10 * time.Second); seg.Stats().Stalls == 0; {
		if time.Now().After(deadline) {
			t.Fatal("Segment never stalled")
		}
		time.Sleep(time.Millisecond)
	}
	close(src.open)
	must(t, <-done)

	// One sequence bit: two IDs per millisecond tick, so ten IDs wait.
	layout := idgen.Layout{TimeBits: 52, NodeBits: 10, SeqBits: 1, Tick: time.Millisecond,
		Epoch: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	g, err := idgen.NewSnowflake(1, &idgen.SnowflakeOptions{Layout: &layout, Name: "events", MeterProvider: e.mp})
	must(t, err)
	for i := 0; i < 10; i++ {
		_, err := g.Next(ctx)
		must(t, err)
	}
}

func exerciseHTTPX(ctx context.Context, t *testing.T, e *env) {
	// Server side: Telemetry over a mux, idempotency, shedding.
	store, err := memorycache.NewBytes(&memorycache.BytesOptions{MaxEntries: 100})
	must(t, err)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /items/{id}", func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "item") })
	mux.Handle("POST /orders", httpx.Idempotency(store, &httpx.IdempotencyOptions{Name: "orders", MeterProvider: e.mp})(
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusCreated) })))
	h := httpx.Chain(httpx.RequestID(nil), httpx.Telemetry(&httpx.TelemetryOptions{
		TracerProvider: e.tp, MeterProvider: e.mp, Propagator: propagation.TraceContext{}}))(httpx.Routes(mux))
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)

	// Client side: the composed stack (otelhttp client spans, retry span).
	tr, err := httpx.NewTransport(nil, &httpx.TransportOptions{Name: "shop", TracerProvider: e.tp, MeterProvider: e.mp})
	must(t, err)
	client := &http.Client{Transport: tr}
	get := func(c *http.Client, url string) {
		t.Helper()
		resp, err := c.Get(url)
		must(t, err)
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
	}
	get(client, srv.URL+"/items/7")
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/orders", strings.NewReader("{}"))
	req.Header.Set("Idempotency-Key", "k1")
	resp, err := client.Do(req)
	must(t, err)
	_ = resp.Body.Close()

	al := httpx.NewAdaptiveLimiter(&httpx.AdaptiveLimiterOptions{Name: "api", Initial: 1, Min: 1, Max: 1, MeterProvider: e.mp})
	tok, ok := al.Acquire(ctx, httpx.Normal)
	if !ok {
		t.Fatal("first Acquire refused")
	}
	if _, ok := al.Acquire(ctx, httpx.Low); ok {
		t.Fatal("Low Acquire over the limit admitted")
	}
	tok.Release()
	t.Cleanup(func() { runtime.KeepAlive(al) }) // gauges hold it weakly

	// Retry: 503 once, then 200.
	var n sync.Map
	flaky := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, seen := n.LoadOrStore(r.URL.Path, true); !seen {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	t.Cleanup(flaky.Close)
	rt, err := httpx.RetryTransport(nil, &httpx.RetryOptions{Name: "flaky", InitialBackoff: time.Millisecond,
		MeterProvider: e.mp, TracerProvider: e.tp})
	must(t, err)
	get(&http.Client{Transport: rt}, flaky.URL+"/r")

	// Hedge: the first send waits until the hedge has arrived.
	hedged := make(chan struct{})
	var once sync.Once
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Hedge") == "" {
			first := false
			once.Do(func() { first = true })
			if first {
				select {
				case <-hedged:
				case <-r.Context().Done():
				}
				return
			}
			close(hedged)
		}
	}))
	t.Cleanup(slow.Close)
	ht, err := httpx.HedgeTransport(nil, &httpx.HedgeOptions{Name: "slow", Delay: time.Millisecond,
		MeterProvider: e.mp, TracerProvider: e.tp})
	must(t, err)
	get(&http.Client{Transport: ht}, slow.URL+"/h")

	// Breaker: one failure opens it, the next request is rejected.
	broken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusInternalServerError) }))
	t.Cleanup(broken.Close)
	bt, err := httpx.NewBreakerTransport(nil, &httpx.BreakerOptions{Name: "broken", FailureThreshold: 1, MeterProvider: e.mp})
	must(t, err)
	bc := &http.Client{Transport: bt}
	t.Cleanup(func() { runtime.KeepAlive(bt) }) // gauges hold it weakly
	get(bc, broken.URL)
	if _, err := bc.Get(broken.URL); err == nil {
		t.Fatal("open breaker let a request through")
	}
}

// typeOf names a metric's type as docs/metrics.md does.
func typeOf(d metricdata.Aggregation) (string, [][]string) {
	keysOf := func(s attribute.Set) []string {
		var ks []string
		for _, kv := range s.ToSlice() {
			ks = append(ks, string(kv.Key))
		}
		return ks
	}
	var pts [][]string
	switch d := d.(type) {
	case metricdata.Sum[int64]:
		for _, p := range d.DataPoints {
			pts = append(pts, keysOf(p.Attributes))
		}
		if d.IsMonotonic {
			return "int64 counter", pts
		}
		return "int64 updowncounter", pts
	case metricdata.Sum[float64]:
		for _, p := range d.DataPoints {
			pts = append(pts, keysOf(p.Attributes))
		}
		if d.IsMonotonic {
			return "float64 counter", pts
		}
		return "float64 updowncounter", pts
	case metricdata.Gauge[int64]:
		for _, p := range d.DataPoints {
			pts = append(pts, keysOf(p.Attributes))
		}
		return "int64 gauge", pts
	case metricdata.Gauge[float64]:
		for _, p := range d.DataPoints {
			pts = append(pts, keysOf(p.Attributes))
		}
		return "float64 gauge", pts
	case metricdata.Histogram[int64]:
		for _, p := range d.DataPoints {
			pts = append(pts, keysOf(p.Attributes))
		}
		return "int64 histogram", pts
	case metricdata.Histogram[float64]:
		for _, p := range d.DataPoints {
			pts = append(pts, keysOf(p.Attributes))
		}
		return "float64 histogram", pts
	}
	return fmt.Sprintf("%T", d), nil
}

func checkMetrics(ctx context.Context, t *testing.T, e *env) {
	var rm metricdata.ResourceMetrics
	must(t, e.reader.Collect(ctx, &rm))
	rows := map[string]row{}
	for _, r := range parseTable(t, "Metrics") {
		if _, dup := rows[r.name]; dup {
			t.Errorf("docs/metrics.md:%d: %s listed twice", r.line, r.name)
		}
		rows[r.name] = r
	}
	seen := map[string]bool{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			r, ok := rows[m.Name]
			if !ok {
				t.Errorf("metric %s (scope %s) is not in docs/metrics.md", m.Name, sm.Scope.Name)
				continue
			}
			seen[m.Name] = true
			typ, pts := typeOf(m.Data)
			if typ != r.typ {
				t.Errorf("%s: type %s, docs/metrics.md:%d says %s", m.Name, typ, r.line, r.typ)
			}
			if m.Unit != r.unit {
				t.Errorf("%s: unit %q, docs/metrics.md:%d says %q", m.Name, m.Unit, r.line, r.unit)
			}
			if strings.HasPrefix(m.Name, "scalekit.") && !strings.HasPrefix(sm.Scope.Name, "github.com/scalekit-go/scalekit/") {
				t.Errorf("%s: scope %s", m.Name, sm.Scope.Name)
			}
			if len(pts) == 0 {
				t.Errorf("%s: no data points", m.Name)
			}
			for _, keys := range pts {
				checkAttrs(t, m.Name, r, keys)
			}
		}
	}
	var missing []string
	for name, r := range rows {
		if !seen[name] {
			missing = append(missing, fmt.Sprintf("%s (docs/metrics.md:%d)", name, r.line))
		}
	}
	sort.Strings(missing)
	for _, m := range missing {
		t.Errorf("documented metric %s was not produced", m)
	}
}

// spanKey is the docs/metrics.md name of a span: server spans are
// "{method} {route}", otelhttp's client spans "HTTP {method}".
func spanKey(s sdktrace.ReadOnlySpan) string {
	switch {
	case s.SpanKind() == trace.SpanKindServer:
		return "{method} {route}"
	case strings.HasPrefix(s.Name(), "HTTP "):
		return "HTTP {method}"
	}
	return s.Name()
}

func checkSpans(t *testing.T, e *env) {
	rows := map[string]row{}
	aliases := map[string]string{}
	for _, r := range parseTable(t, "Spans") {
		rows[r.name] = r
		for _, a := range r.aliases {
			aliases[a] = r.name
		}
	}
	seen := map[string]bool{}
	for _, s := range e.spans.Ended() {
		key := spanKey(s)
		if a, ok := aliases[key]; ok {
			key = a
		}
		r, ok := rows[key]
		if !ok {
			t.Errorf("span %q (scope %s) is not in docs/metrics.md", s.Name(), s.InstrumentationScope().Name)
			continue
		}
		seen[key] = true
		if kind := s.SpanKind().String(); kind != r.typ {
			t.Errorf("span %s: kind %s, docs/metrics.md:%d says %s", s.Name(), kind, r.line, r.typ)
		}
		var keys []string
		for _, kv := range s.Attributes() {
			keys = append(keys, string(kv.Key))
			if kv.Key == "client.address" && strings.Contains(kv.Value.AsString(), ":") {
				t.Errorf("span %s: client.address %q carries a port", s.Name(), kv.Value.AsString())
			}
		}
		checkAttrs(t, "span "+s.Name(), r, keys)
		if s.SpanKind() == trace.SpanKindServer && s.Name() != "GET /items/{id}" && s.Name() != "POST /orders" {
			t.Errorf("server span named %q, want the method and route", s.Name())
		}
	}
	for name, r := range rows {
		if !seen[name] {
			t.Errorf("documented span %s (docs/metrics.md:%d) was not produced", name, r.line)
		}
	}
}
