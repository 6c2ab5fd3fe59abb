package main

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

func median(v []float64) (med, lo, hi float64) {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2], s[0], s[len(s)-1]
}

func col(rs []result, f func(result) float64, format string) string {
	v := make([]float64, len(rs))
	for i, r := range rs {
		v[i] = f(r)
	}
	m, lo, hi := median(v)
	if len(v) == 1 {
		return fmt.Sprintf(format, m)
	}
	return fmt.Sprintf(format+" ["+format+"–"+format+"]", m, lo, hi)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// table writes one Markdown table per mode: every proxy and concurrency,
// and scalekit's req/s and p99 as ratios to each peer's (median of the
// per-round ratios).
func table(md *strings.Builder, proxies []*proxy, conns []int, res map[key][]result) {
	for _, mode := range []string{"http", "tcp"} {
		var ps []*proxy
		for _, p := range proxies {
			if p.mode == mode {
				ps = append(ps, p)
			}
		}
		if len(ps) == 0 {
			continue
		}
		fmt.Fprintf(md, "\n### %s\n\n| proxy | conns | req/s | p50 ms | p99 ms | CPU µs/req | new upstream conns per 10k req | errors |\n|---|---:|---:|---:|---:|---:|---:|---:|\n",
			map[string]string{"http": "L7 (HTTP)", "tcp": "L4 (TCP)"}[mode])
		for _, c := range conns {
			for _, p := range ps {
				rs := res[key{p.name, mode, c}]
				if len(rs) == 0 {
					continue
				}
				var errs int64
				for _, r := range rs {
					errs += r.errs
				}
				fmt.Fprintf(md, "| %s | %d | %s | %s | %s | %s | %s | %d |\n", p.name, c,
					col(rs, func(r result) float64 { return r.rps }, "%.0f"),
					col(rs, func(r result) float64 { return ms(r.p50) }, "%.2f"),
					col(rs, func(r result) float64 { return ms(r.p99) }, "%.2f"),
					col(rs, func(r result) float64 { return r.cpuPerReq }, "%.1f"),
					col(rs, func(r result) float64 { return r.newPer10k }, "%.1f"),
					errs)
			}
		}
		sk := "scalekit " + mode
		fmt.Fprintf(md, "\n| scalekit / peer | conns | req/s ratio | p99 ratio | CPU/req ratio |\n|---|---:|---:|---:|---:|\n")
		for _, c := range conns {
			a := res[key{sk, mode, c}]
			for _, p := range ps {
				b := res[key{p.name, mode, c}]
				if p.name == sk || len(a) == 0 || len(b) == 0 {
					continue
				}
				n := min(len(a), len(b))
				ratio := func(f func(result) float64) string {
					v := make([]float64, n)
					for i := range n {
						v[i] = f(a[i]) / f(b[i])
					}
					m, lo, hi := median(v)
					return fmt.Sprintf("%.2f [%.2f–%.2f]", m, lo, hi)
				}
				fmt.Fprintf(md, "| vs %s | %d | %s | %s | %s |\n", p.name, c,
					ratio(func(r result) float64 { return r.rps }),
					ratio(func(r result) float64 { return float64(r.p99) }),
					ratio(func(r result) float64 { return r.cpuPerReq }))
			}
		}
	}
}
