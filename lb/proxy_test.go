package lb_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scalekit-go/scalekit/lb"
	"github.com/scalekit-go/scalekit/lb/lbtest"
)

func servers(t *testing.T, names ...string) ([]*lbtest.Server, []lb.Endpoint) {
	var ss []*lbtest.Server
	var eps []lb.Endpoint
	for _, n := range names {
		s := lbtest.NewServer(t, n)
		ss = append(ss, s)
		eps = append(eps, lb.Endpoint{Addr: s.Addr()})
	}
	return ss, eps
}

func get(t *testing.T, c *http.Client, url string, hdr map[string]string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	for k, v := range hdr {
		if k == "Host" {
			req.Host = v
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	return resp, string(body)
}

func TestReverseProxyRouting(t *testing.T) {
	_, videoEps := servers(t, "video1", "video2")
	_, billEps := servers(t, "billing")
	_, webEps := servers(t, "web")
	_, adminEps := servers(t, "admin")
	_, canaryEps := servers(t, "canary")
	video := newBalancer(t, videoEps, &lb.Options{Policy: lb.LeastConn(nil)})
	bill := newBalancer(t, billEps, nil)
	web := newBalancer(t, webEps, nil)
	admin := newBalancer(t, adminEps, nil)
	canary := newBalancer(t, canaryEps, nil)
	empty := newBalancer(t, nil, nil)
	p, err := lb.NewReverseProxy([]lb.Route{
		{Name: "web", PathPrefix: "/", Balancer: web},
		{Name: "video", PathPrefix: "/video/", Balancer: video, StripPrefix: true},
		{Name: "billing", PathPrefix: "/billing/", Balancer: bill},
		{Name: "admin", Host: "*.admin.example", Balancer: admin, PathPrefix: "/"},
		{Name: "canary", PathPrefix: "/", Headers: map[string]string{"X-Canary": "1"}, Balancer: canary, Host: "shop.example"},
		{Name: "down", PathPrefix: "/down/", Balancer: empty},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	front := httptest.NewServer(p)
	defer front.Close()
	c := front.Client()
	for _, tc := range []struct {
		path   string
		hdr    map[string]string
		status int
		prefix string
	}{
		{"/video/clip.mp4", nil, 200, "video"},
		{"/billing/invoices", nil, 200, "billing /billing/invoices"},
		{"/index.html", nil, 200, "web /index.html"},
		{"/x", map[string]string{"Host": "eu.admin.example"}, 200, "admin"},
		{"/x", map[string]string{"Host": "shop.example", "X-Canary": "1"}, 200, "canary"},
		{"/x", map[string]string{"Host": "shop.example", "X-Canary": "0"}, 200, "web"},
		{"/down/x", nil, 503, ""},
	} {
		resp, body := get(t, c, front.URL+tc.path, tc.hdr)
		if resp.StatusCode != tc.status || !strings.HasPrefix(body, tc.prefix) {
			t.Errorf("%s %v: %d %q, want %d %q…", tc.path, tc.hdr, resp.StatusCode, body, tc.status, tc.prefix)
		}
	}
	// StripPrefix: the video servers see "/clip.mp4".
	if _, body := get(t, c, front.URL+"/video/clip.mp4", nil); !strings.HasSuffix(body, " /clip.mp4") {
		t.Errorf("video body %q, want the stripped path", body)
	}
	// X-Forwarded-*.
	resp, _ := get(t, c, front.URL+"/a", map[string]string{"X-Forwarded-For": "198.51.100.1", "Host": "www.example"})
	if got := resp.Header.Get("Echo-X-Forwarded-For"); got != "127.0.0.1" {
		t.Errorf("X-Forwarded-For %q, want the client address only (untrusted chain dropped)", got)
	}
	if got := resp.Header.Get("Echo-X-Forwarded-Host"); got != "www.example" {
		t.Errorf("X-Forwarded-Host %q", got)
	}
	if got := resp.Header.Get("Echo-X-Forwarded-Proto"); got != "http" {
		t.Errorf("X-Forwarded-Proto %q", got)
	}
	if r := p.Match(httptest.NewRequest("GET", "/billing/x", nil)); r == nil || r.Name != "billing" {
		t.Errorf("Match = %v", r)
	}

	trusted, _ := lb.NewReverseProxy([]lb.Route{{Balancer: web}}, &lb.ProxyOptions{TrustForwarded: true})
	front2 := httptest.NewServer(trusted)
	defer front2.Close()
	resp, _ = get(t, c, front2.URL+"/a", map[string]string{"X-Forwarded-For": "198.51.100.1"})
	if got := resp.Header.Get("Echo-X-Forwarded-For"); got != "198.51.100.1, 127.0.0.1" {
		t.Errorf("trusted X-Forwarded-For %q", got)
	}

	if _, err := lb.NewReverseProxy(nil, nil); err == nil {
		t.Error("no routes accepted")
	}
	if _, err := lb.NewReverseProxy([]lb.Route{{Name: "x"}}, nil); err == nil {
		t.Error("route without balancer accepted")
	}
	noRoute, _ := lb.NewReverseProxy([]lb.Route{{Host: "only.example", Balancer: web}}, nil)
	rec := httptest.NewRecorder()
	noRoute.ServeHTTP(rec, httptest.NewRequest("GET", "http://other.example/", nil))
	if rec.Code != 404 {
		t.Errorf("no matching route: %d, want 404", rec.Code)
	}
}

func TestReverseProxyStickySessions(t *testing.T) {
	_, eps := servers(t, "a", "b", "c")
	bal := newBalancer(t, eps, nil)
	p, _ := lb.NewReverseProxy([]lb.Route{{Balancer: bal, Sticky: &lb.StickyCookie{Name: "srv"}}}, nil)
	front := httptest.NewServer(p)
	defer front.Close()
	c := front.Client()
	resp, first := get(t, c, front.URL+"/", nil)
	cookies := resp.Cookies()
	if len(cookies) != 1 || cookies[0].Name != "srv" {
		t.Fatalf("first response cookies %v", cookies)
	}
	pin := map[string]string{"Cookie": cookies[0].String()}
	for range 10 {
		resp, body := get(t, c, front.URL+"/", pin)
		if body != first {
			t.Fatalf("sticky session moved from %q to %q", first, body)
		}
		if len(resp.Cookies()) != 0 {
			t.Fatal("cookie re-set although the session stayed")
		}
	}
	// The pinned endpoint leaves: fallback and re-pin.
	name := strings.Fields(first)[0]
	var rest []lb.Endpoint
	for _, e := range eps {
		be, _ := bal.Backend(e.Addr)
		if resp, body := get(t, c, "http://"+be.Addr()+"/", nil); resp.StatusCode == 200 && !strings.HasPrefix(body, name+" ") {
			rest = append(rest, e)
		}
	}
	_ = bal.SetEndpoints(rest)
	resp, body := get(t, c, front.URL+"/", pin)
	if resp.StatusCode != 200 || body == first || len(resp.Cookies()) != 1 {
		t.Fatalf("after the pinned endpoint left: %d %q cookies %v", resp.StatusCode, body, resp.Cookies())
	}
}

// TestReverseProxyKillMidRun: three servers behind the proxy, eight
// clients sending GETs; one server is killed while requests are in flight
// on it. Every request must succeed: the ones in flight and the ones that
// hit the dead server before ejection are retried on another endpoint.
func TestReverseProxyKillMidRun(t *testing.T) {
	ss, eps := servers(t, "a", "b", "c")
	for _, s := range ss {
		s.SetDelay(2 * time.Millisecond)
	}
	ev := newEvents()
	bal := newBalancer(t, eps, &lb.Options{Policy: lb.RoundRobin(), OnEvent: ev.on,
		Outlier: &lb.OutlierOptions{ConsecutiveFailures: 2, BaseEjection: time.Minute}})
	p, _ := lb.NewReverseProxy([]lb.Route{{Balancer: bal}}, nil)
	front := httptest.NewServer(p)
	defer front.Close()
	c := front.Client()
	var ok, failed, sent atomic.Int64
	var wg sync.WaitGroup
	midRun := make(chan struct{})
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 60 {
				if sent.Add(1) == 120 {
					close(midRun)
				}
				resp, err := c.Get(front.URL + "/item")
				if err != nil {
					failed.Add(1)
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close()
				if resp.StatusCode == 200 {
					ok.Add(1)
				} else {
					failed.Add(1)
				}
			}
		}()
	}
	<-midRun
	ss[0].Kill()
	wg.Wait()
	if failed.Load() != 0 || ok.Load() != 480 {
		t.Fatalf("%d ok, %d failed of 480 idempotent requests; want none lost", ok.Load(), failed.Load())
	}
	ev.wait(t, lb.EventEjected, eps[0].Addr)
	if ss[1].Hits()+ss[2].Hits() < 480-ss[0].Hits() {
		t.Fatalf("hits a=%d b=%d c=%d", ss[0].Hits(), ss[1].Hits(), ss[2].Hits())
	}
}

// TestReverseProxyUpgrade: an upgraded connection (as WebSocket uses) is
// proxied both ways and counted in flight until it closes.
func TestReverseProxyUpgrade(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "echo" {
			http.Error(w, "no upgrade", 400)
			return
		}
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		_, _ = brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
		_ = brw.Flush()
		line, err := brw.ReadString('\n')
		if err != nil {
			return
		}
		_, _ = brw.WriteString("echo: " + line)
		_ = brw.Flush()
	}))
	defer backend.Close()
	bal := newBalancer(t, []lb.Endpoint{{Addr: backend.Listener.Addr().String()}}, nil)
	p, _ := lb.NewReverseProxy([]lb.Route{{Balancer: bal}}, nil)
	front := httptest.NewServer(p)
	defer front.Close()
	c, err := net.Dial("tcp", front.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	_, _ = io.WriteString(c, "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("status %d, want 101", resp.StatusCode)
	}
	if be := bal.Backends()[0]; be.InFlight() != 1 {
		t.Fatalf("upgraded connection not in flight: %d", be.InFlight())
	}
	_, _ = io.WriteString(c, "hello\n")
	line, err := br.ReadString('\n')
	if err != nil || line != "echo: hello\n" {
		t.Fatalf("through the upgraded connection: %q %v", line, err)
	}
}
