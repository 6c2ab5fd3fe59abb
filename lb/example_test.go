package lb_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"time"

	"github.com/scalekit-go/scalekit/lb"
)

func ExampleWeightedRoundRobin() {
	b, err := lb.New([]lb.Endpoint{
		{Addr: "a:80", Weight: 5}, {Addr: "b:80", Weight: 1}, {Addr: "c:80", Weight: 1},
	}, &lb.Options{Policy: lb.WeightedRoundRobin()})
	if err != nil {
		panic(err)
	}
	defer b.Close()
	counts := map[string]int{}
	for range 70 {
		r, err := b.Pick(lb.PickInfo{})
		if err != nil {
			panic(err)
		}
		counts[r.Backend.Addr()]++
		r.Done(lb.DoneInfo{}) // report the outcome of the call
	}
	fmt.Println(counts)
	// Output: map[a:80:50 b:80:10 c:80:10]
}

func ExampleConsistentHash() {
	b, _ := lb.New([]lb.Endpoint{{Addr: "cache1:11211"}, {Addr: "cache2:11211"}, {Addr: "cache3:11211"}},
		&lb.Options{Policy: lb.ConsistentHash(&lb.HashOptions{Epsilon: 0.25})})
	defer b.Close()
	owner := func(user string) string {
		r, _ := b.Pick(lb.PickInfo{Key: user})
		defer r.Done(lb.DoneInfo{})
		return r.Backend.Addr()
	}
	first := owner("user-42")
	fmt.Println(owner("user-42") == first)
	// Removing another endpoint leaves the key where it was.
	var rest []lb.Endpoint
	for _, be := range b.Backends() {
		if be.Addr() == first || len(rest) == 0 {
			rest = append(rest, be.Endpoint())
		}
	}
	_ = b.SetEndpoints(rest)
	fmt.Println(owner("user-42") == first)
	// Output:
	// true
	// true
}

func ExampleReverseProxy() {
	backend := func(name string) *httptest.Server {
		return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "%s served %s", name, r.URL.Path)
		}))
	}
	video, billing, web := backend("video"), backend("billing"), backend("web")
	defer video.Close()
	defer billing.Close()
	defer web.Close()
	pool := func(s *httptest.Server, p lb.Policy) *lb.Balancer {
		b, _ := lb.New([]lb.Endpoint{{Addr: s.Listener.Addr().String()}}, &lb.Options{Policy: p})
		return b
	}
	proxy, err := lb.NewReverseProxy([]lb.Route{
		{Name: "video", PathPrefix: "/video/", Balancer: pool(video, lb.LeastConn(nil))},
		{Name: "billing", PathPrefix: "/billing/", Balancer: pool(billing, lb.RoundRobin())},
		{Name: "web", PathPrefix: "/", Balancer: pool(web, lb.LeastResponseTime(nil))},
	}, nil)
	if err != nil {
		panic(err)
	}
	front := httptest.NewServer(proxy)
	defer front.Close()
	var out []string
	for _, path := range []string{"/video/cat.mp4", "/billing/invoice/7", "/about"} {
		resp, err := http.Get(front.URL + path)
		if err != nil {
			panic(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		out = append(out, string(body))
	}
	sort.Strings(out)
	for _, s := range out {
		fmt.Println(s)
	}
	// Output:
	// billing served /billing/invoice/7
	// video served /video/cat.mp4
	// web served /about
}

func ExampleTransport() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "user %s", r.URL.Path[len("/users/"):])
	}))
	defer srv.Close()
	users, _ := lb.New([]lb.Endpoint{{Addr: srv.Listener.Addr().String()}},
		&lb.Options{Policy: lb.LeastResponseTime(nil), Outlier: &lb.OutlierOptions{}})
	defer users.Close()
	client := &http.Client{Transport: &lb.Transport{Balancer: users}}
	resp, err := client.Get("http://users/users/42") // the host is a logical name
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(string(body))
	// Output: user 42
}

// The README's example: a smart client over DNS discovery and an L7 proxy.
// (Compiled, not run: it needs the DNS names.)
func Example_smartClientAndProxy() {
	run := func(ctx context.Context, video, billing, web *lb.Balancer) error {
		res, err := lb.DNS("users.internal", 8080, &lb.DNSOptions{Interval: 10 * time.Second})
		if err != nil {
			return err
		}
		users, err := lb.Open(ctx, res, &lb.Options{
			Policy:  lb.LeastResponseTime(nil),            // P2C over peak EWMA
			Outlier: &lb.OutlierOptions{FailureRate: 0.1}, // and 5 failures in a row
			Breaker: &lb.BreakerOptions{Timeout: 10 * time.Second},
		})
		if err != nil {
			return err
		}
		defer users.Close()
		client := &http.Client{Transport: &lb.Transport{Balancer: users}}
		resp, err := client.Get("http://users/v1/users/42") // retried elsewhere if it fails
		if err != nil {
			return err
		}
		resp.Body.Close()

		// L7: video to the video servers, billing to billing (sticky), the rest to web.
		proxy, err := lb.NewReverseProxy([]lb.Route{
			{PathPrefix: "/video/", Balancer: video},
			{PathPrefix: "/billing/", Balancer: billing, Sticky: &lb.StickyCookie{}},
			{Host: "*.example.com", PathPrefix: "/", Balancer: web, Key: lb.KeyFromIP(false)},
		}, nil)
		if err != nil {
			return err
		}
		return http.ListenAndServe(":8080", proxy)
	}
	_ = run
}
