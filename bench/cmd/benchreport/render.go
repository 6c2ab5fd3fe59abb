package main

import (
	"fmt"
	"io"
	"math"
	"strings"
)

// markdown writes one table row per (comparison, peer): both medians, the
// ratio's median and spread, and allocations. Ratio < 1 means scalekit is
// faster; the verdict column says so in words.
func markdown(w io.Writer, cmps []*comparison, rounds int) {
	fmt.Fprintf(w, "| comparison | scalekit | peer | scalekit ns/op | peer ns/op | ratio (scalekit ÷ peer) [min–max] | allocs/op (scalekit / peer) | verdict |\n")
	fmt.Fprintf(w, "|---|---|---|---:|---:|---|---|---|\n")
	for _, c := range cmps {
		if !timed(c) {
			continue
		}
		b := summarize(c.Values[c.Base])
		ba := summarize(c.Allocs[c.Base])
		for _, p := range c.Peers {
			pv := summarize(c.Values[p])
			pa := summarize(c.Allocs[p])
			r := summarize(c.Ratios[p])
			verdict := "faster"
			switch {
			case r.Max < 1:
				verdict = "faster"
			case r.Min > 1:
				verdict = "**slower**"
			default:
				verdict = "within noise"
			}
			fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %.2f× [%.2f–%.2f] | %s / %s | %s |\n",
				strings.TrimPrefix(c.Group, "Benchmark"), c.Base, p, num(b.Median), num(pv.Median),
				r.Median, r.Min, r.Max, num(ba.Median), num(pa.Median), verdict)
		}
	}
	fmt.Fprintf(w, "\nMedians of %d interleaved rounds; the ratio is taken within each round.\n", rounds)
	extras(w, cmps)
}

// timed reports whether c's ns/op is what it compares. The load-balancer
// simulation's is the cost of simulating, not a request's latency: its
// figures are the p99 and error metrics (extras, lbsim.svg).
func timed(c *comparison) bool { return c.Group != "BenchmarkCmpLBSim" }

// extras writes the custom metrics (hit ratios, IDs per ms, p99) per
// contender, medians with spread.
func extras(w io.Writer, cmps []*comparison) {
	first := true
	for _, c := range cmps {
		if len(c.extraUse) == 0 {
			continue
		}
		if first {
			fmt.Fprintf(w, "\n| comparison | contender | metric | median [min–max] |\n|---|---|---|---|\n")
			first = false
		}
		for _, name := range append([]string{c.Base}, c.Peers...) {
			for _, unit := range c.extraUse {
				v, ok := c.Extra[name][unit]
				if !ok {
					continue
				}
				s := summarize(v)
				fmt.Fprintf(w, "| %s | %s | %s | %s [%s–%s] |\n", strings.TrimPrefix(c.Group, "Benchmark"),
					name, unit, num(s.Median), num(s.Min), num(s.Max))
			}
		}
	}
}

func num(v float64) string {
	switch {
	case math.IsNaN(v):
		return "–"
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

// svg draws a horizontal bar per (comparison, peer): the median ratio on a
// log2 axis centred on 1.0 (left of the line scalekit is faster), with the
// spread as a whisker.
func svg(w io.Writer, title string, cmps []*comparison) {
	type bar struct {
		label string
		r     stats
	}
	var bars []bar
	for _, c := range cmps {
		if !timed(c) {
			continue
		}
		for _, p := range c.Peers {
			bars = append(bars, bar{strings.TrimPrefix(c.Group, "Benchmark") + " vs " + p, summarize(c.Ratios[p])})
		}
	}
	const left, width, rowH, top = 420, 360, 22, 40
	h := top + rowH*len(bars) + 40
	x := func(r float64) float64 { // log2 scale over [1/8, 8]
		l := math.Log2(r)
		l = math.Max(-3, math.Min(3, l))
		return left + width/2 + l/3*width/2
	}
	fmt.Fprintf(w, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">`+"\n", left+width+80, h)
	fmt.Fprintf(w, `<rect width="100%%" height="100%%" fill="white"/><text x="10" y="20" font-size="14" font-weight="bold">%s</text>`+"\n", esc(title))
	for _, t := range []float64{0.125, 0.25, 0.5, 1, 2, 4, 8} {
		fmt.Fprintf(w, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="%s"/><text x="%.1f" y="%d" text-anchor="middle">%g×</text>`+"\n",
			x(t), top-5, x(t), h-30, map[bool]string{true: "black", false: "#ddd"}[t == 1], x(t), h-15, t)
	}
	for i, b := range bars {
		y := top + i*rowH
		color := "#2b8a3e"
		if b.r.Median > 1 {
			color = "#c92a2a"
		}
		x0, x1 := x(1), x(b.r.Median)
		if x1 < x0 {
			x0, x1 = x1, x0
		}
		fmt.Fprintf(w, `<text x="%d" y="%d" text-anchor="end">%s</text>`, left-8, y+14, esc(b.label))
		fmt.Fprintf(w, `<rect x="%.1f" y="%d" width="%.1f" height="14" fill="%s"/>`, x0, y+3, math.Max(1, x1-x0), color)
		fmt.Fprintf(w, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="black"/>`, x(b.r.Min), y+10, x(b.r.Max), y+10)
		fmt.Fprintf(w, `<text x="%d" y="%d">%.2f×</text>`+"\n", left+width+8, y+14, b.r.Median)
	}
	fmt.Fprintf(w, `<text x="%d" y="%d" fill="#555">scalekit ns/op ÷ peer ns/op (log scale; left of 1× scalekit is faster)</text>`, left, h-2)
	fmt.Fprintln(w, "</svg>")
}

func esc(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}
