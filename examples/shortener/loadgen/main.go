// Command loadgen drives a running shortener with a Zipf mix of redirects
// and creates, prints throughput and latency percentiles, and turns the
// measured figures into the capacity arithmetic of the seeds:
// average QPS = ops per user per day × DAU / 86,400, peak = 3 × average.
//
//	go run ./examples/shortener -nodes 3 -api-keys k -key-rate 1000000 &
//	go run ./examples/shortener/loadgen -url http://127.0.0.1:8080 -api-key k
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"time"
)

func main() {
	target := flag.String("url", "http://127.0.0.1:8080", "shortener base URL")
	key := flag.String("api-key", "", "API key (needed for the bulk import that seeds links)")
	links := flag.Int("links", 1000, "links to create before the run")
	dur := flag.Duration("duration", 10*time.Second, "length of the run")
	conc := flag.Int("concurrency", 32, "concurrent clients")
	createRatio := flag.Float64("creates", 0.05, "fraction of operations that create a link")
	zipfS := flag.Float64("zipf", 1.1, "Zipf exponent of link popularity (>1)")
	dau := flag.Float64("dau", 100e6, "daily active users for the capacity arithmetic")
	reads := flag.Float64("reads-per-user", 10, "redirects per user per day")
	writes := flag.Float64("writes-per-user", 0.01, "creates per user per day (1M/day at 100M DAU)")
	flag.Parse()
	base := strings.TrimRight(*target, "/")

	tr := &http.Transport{MaxIdleConns: *conc * 2, MaxIdleConnsPerHost: *conc * 2, IdleConnTimeout: time.Minute}
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	codes, err := seed(client, base, *key, *links)
	if err != nil {
		fmt.Fprintln(os.Stderr, "seed:", err)
		os.Exit(1)
	}
	fmt.Printf("seeded %d links; running %s with %d clients, %.0f%% creates, Zipf s=%.2f\n", len(codes), *dur, *conc, *createRatio*100, *zipfS)

	ctx, cancel := context.WithTimeout(context.Background(), *dur)
	defer cancel()
	type result struct {
		redirects, creates []time.Duration
		errors             int
	}
	results := make([]result, *conc)
	var wg sync.WaitGroup
	start := time.Now()
	for w := range *conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), uint64(time.Now().UnixNano())))
			z := rand.NewZipf(rng, *zipfS, 1, uint64(len(codes)-1))
			res := &results[w]
			for ctx.Err() == nil {
				t0 := time.Now()
				var req *http.Request
				create := rng.Float64() < *createRatio
				if create {
					body := fmt.Sprintf(`{"url":"https://load.example/%d/%d"}`, w, rng.Uint64())
					req, _ = http.NewRequestWithContext(ctx, "POST", base+"/api/v1/links", strings.NewReader(body))
					req.Header.Set("Content-Type", "application/json")
					req.Header.Set("X-API-Key", *key)
				} else {
					req, _ = http.NewRequestWithContext(ctx, "GET", base+"/"+codes[z.Uint64()], nil)
					req.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0 loadgen")
				}
				resp, err := client.Do(req)
				if err != nil {
					if ctx.Err() == nil {
						res.errors++
					}
					continue
				}
				_ = resp.Body.Close()
				d := time.Since(t0)
				switch {
				case create && resp.StatusCode == http.StatusCreated:
					res.creates = append(res.creates, d)
				case !create && resp.StatusCode == http.StatusFound:
					res.redirects = append(res.redirects, d)
				default:
					res.errors++
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	var red, cre []time.Duration
	errs := 0
	for _, r := range results {
		red, cre, errs = append(red, r.redirects...), append(cre, r.creates...), errs+r.errors
	}
	total := float64(len(red) + len(cre))
	fmt.Printf("\n%-10s %10s %10s %10s %10s\n", "op", "count", "ops/s", "p50", "p99")
	for _, row := range []struct {
		name string
		d    []time.Duration
	}{{"redirect", red}, {"create", cre}} {
		p50, p99 := pct(row.d, 0.50), pct(row.d, 0.99)
		fmt.Printf("%-10s %10d %10.0f %10s %10s\n", row.name, len(row.d), float64(len(row.d))/elapsed.Seconds(), p50, p99)
	}
	fmt.Printf("%-10s %10.0f %10.0f   (errors or unexpected statuses: %d)\n", "total", total, total/elapsed.Seconds(), errs)

	measured := total / elapsed.Seconds()
	avgR, avgW := *reads**dau/86400, *writes**dau/86400
	fmt.Printf("\ncapacity arithmetic for %.0fM DAU:\n", *dau/1e6)
	fmt.Printf("  redirects: %.0f/user/day × %.0fM / 86,400 = %.0f QPS average, %.0f peak (3×)\n", *reads, *dau/1e6, avgR, 3*avgR)
	fmt.Printf("  creates:   %.3g/user/day × %.0fM / 86,400 = %.1f QPS average, %.1f peak (%.2gM new URLs/day)\n", *writes, *dau/1e6, avgW, 3*avgW, *writes**dau/1e6)
	fmt.Printf("  measured %.0f ops/s here → %.1f× the peak; at this rate one deployment like this serves %.0fM DAU at peak\n",
		measured, measured/(3*(avgR+avgW)), measured/(3*(*reads+*writes)/86400)/1e6)
}

// seed creates n links through the CSV import (or one by one without a key).
func seed(c *http.Client, base, key string, n int) ([]string, error) {
	var codes []string
	for len(codes) < n {
		batch := min(1000, n-len(codes))
		var b bytes.Buffer
		b.WriteString("url\n")
		for i := range batch {
			fmt.Fprintf(&b, "https://seed.example/%d/%d\n", time.Now().UnixNano(), i)
		}
		req, _ := http.NewRequest("POST", base+"/api/v1/links/import", &b)
		req.Header.Set("Content-Type", "text/csv")
		req.Header.Set("X-API-Key", key)
		resp, err := c.Do(req)
		if err != nil {
			return nil, err
		}
		var out struct {
			Results []struct {
				Code string `json:"code"`
			} `json:"results"`
		}
		err = json.NewDecoder(resp.Body).Decode(&out)
		_ = resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("import: status %d (is -api-key right?) %v", resp.StatusCode, err)
		}
		for _, r := range out.Results {
			if r.Code != "" {
				codes = append(codes, r.Code)
			}
		}
	}
	return codes, nil
}

func pct(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	return d[int(float64(len(d)-1)*p)].Round(time.Microsecond)
}
