package lb_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"

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
