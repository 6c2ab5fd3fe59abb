package main

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
)

// lbsimBars collects the p99 latency (ms) of every policy of
// BenchmarkCmpLBSim, scalekit's first; s of the err-% metric rides along
// in errs.
func lbsimBars(cmps []*comparison) (bars []throughputBar, errs []stats) {
	for _, c := range cmps {
		if c.Group != "BenchmarkCmpLBSim" {
			continue
		}
		for _, name := range append([]string{c.Base}, c.Peers...) {
			v, ok := c.Extra[name]["p99-ms"]
			if !ok {
				continue
			}
			bars = append(bars, throughputBar{"", name, name == c.Base, summarize(v)})
			errs = append(errs, summarize(c.Extra[name]["err-%"]))
		}
	}
	return bars, errs
}

// lbsimSVG draws one horizontal bar per load-balancing policy: the median
// p99 latency of the heterogeneous-backend simulation, the spread over the
// rounds as a whisker, the error rate as a label. It returns false,
// writing nothing, when BenchmarkCmpLBSim did not run.
func lbsimSVG(w io.Writer, cmps []*comparison) bool {
	bars, errs := lbsimBars(cmps)
	if len(bars) == 0 {
		return false
	}
	top := 0.0
	for _, b := range bars {
		top = math.Max(top, b.s.Max)
	}
	const left, width, rowH, head = 180, 400, 22, 40
	h := head + rowH*len(bars) + 40
	x := func(v float64) float64 { return left + v/top*width }
	fmt.Fprintf(w, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">`+"\n", left+width+170, h)
	fmt.Fprintf(w, `<rect width="100%%" height="100%%" fill="white"/><text x="10" y="20" font-size="14" font-weight="bold">p99 by lb policy: 10 endpoints, one 10× slower, one failing 20 %%</text>`+"\n")
	for i, b := range bars {
		y := head + i*rowH
		color := "#868e96"
		if b.base {
			color = "#1c7ed6"
		}
		fmt.Fprintf(w, `<text x="%d" y="%d" text-anchor="end">%s</text>`, left-8, y+14, esc(b.contender))
		fmt.Fprintf(w, `<rect x="%d" y="%d" width="%.1f" height="14" fill="%s"/>`, left, y+3, math.Max(1, x(b.s.Median)-left), color)
		fmt.Fprintf(w, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="black"/>`, x(b.s.Min), y+10, x(b.s.Max), y+10)
		fmt.Fprintf(w, `<text x="%.1f" y="%d">%s ms · err %s%%</text>`+"\n", x(b.s.Max)+6, y+14, num(b.s.Median), num(errs[i].Median))
	}
	fmt.Fprintf(w, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>`, left, head-4, left, head+rowH*len(bars))
	fmt.Fprintf(w, `<text x="%d" y="%d" fill="#555">p99 latency (ms), median of the rounds; whisker: min–max; blue: scalekit</text>`, left, h-10)
	fmt.Fprintln(w, "</svg>")
	return true
}

// A hitPoint is one contender's hit ratio for one trace at one capacity.
type hitPoint struct {
	trace     string
	capacity  float64 // percent of the key space
	contender string
	base      bool
	s         stats
}

// hitPoints collects the hit% of the BenchmarkCmpHitRatio/<trace>/cap=<c>%
// rows.
func hitPoints(cmps []*comparison) []hitPoint {
	var out []hitPoint
	for _, c := range cmps {
		rest, ok := strings.CutPrefix(c.Group, "BenchmarkCmpHitRatio/")
		if !ok {
			continue
		}
		trace, cs, ok := strings.Cut(rest, "/cap=")
		if !ok {
			continue
		}
		capacity, err := strconv.ParseFloat(strings.TrimSuffix(cs, "%"), 64)
		if err != nil {
			continue
		}
		for _, name := range append([]string{c.Base}, c.Peers...) {
			if v, ok := c.Extra[name]["hit%"]; ok {
				out = append(out, hitPoint{trace, capacity, name, name == c.Base, summarize(v)})
			}
		}
	}
	return out
}

// hitRatioSVG draws one small panel per trace: the capacities on the x
// axis (evenly spaced, in increasing order), the median hit ratio on the
// y axis (0–100 %), one line per contender. It returns false, writing
// nothing, when no hit-ratio row is in cmps.
func hitRatioSVG(w io.Writer, cmps []*comparison) bool {
	pts := hitPoints(cmps)
	if len(pts) == 0 {
		return false
	}
	var traces, contenders []string
	var caps []float64
	base := ""
	for _, p := range pts {
		if !contains(traces, p.trace) {
			traces = append(traces, p.trace)
		}
		if !contains(contenders, p.contender) {
			contenders = append(contenders, p.contender)
		}
		if p.base {
			base = p.contender
		}
		if !containsF(caps, p.capacity) {
			caps = append(caps, p.capacity)
		}
	}
	sort.Float64s(caps)
	colors := []string{"#e8590c", "#868e96", "#2b8a3e", "#ae3ec9", "#f08c00"}
	color := func(name string) string {
		if name == base {
			return "#1c7ed6"
		}
		i := 0
		for _, c := range contenders {
			if c == name {
				break
			}
			if c != base {
				i++
			}
		}
		return colors[i%len(colors)]
	}
	const cols, pw, ph, pad, head = 3, 230, 170, 40, 50
	rows := (len(traces) + cols - 1) / cols
	wd, ht := cols*(pw+pad)+pad, head+rows*(ph+pad+20)+20*len(contenders)+20
	fmt.Fprintf(w, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="11">`+"\n", wd, ht)
	fmt.Fprintf(w, `<rect width="100%%" height="100%%" fill="white"/><text x="10" y="20" font-size="14" font-weight="bold">cache hit ratio vs capacity (percent of the key space), per trace</text>`+"\n")
	for ti, tr := range traces {
		ox := pad + (ti%cols)*(pw+pad)
		oy := head + (ti/cols)*(ph+pad+20)
		xp := func(c float64) float64 {
			i := 0
			for i < len(caps) && caps[i] != c {
				i++
			}
			if len(caps) == 1 {
				return float64(ox) + pw/2
			}
			return float64(ox) + 10 + float64(i)*(pw-20)/float64(len(caps)-1)
		}
		yp := func(v float64) float64 { return float64(oy+ph) - v/100*ph }
		fmt.Fprintf(w, `<text x="%d" y="%d" font-weight="bold">%s</text>`+"\n", ox, oy-6, esc(tr))
		fmt.Fprintf(w, `<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#aaa"/>`+"\n", ox, oy, pw, ph)
		for _, g := range []float64{0, 50, 100} {
			fmt.Fprintf(w, `<text x="%d" y="%.1f" text-anchor="end">%g%%</text>`, ox-4, yp(g)+4, g)
		}
		for _, c := range caps {
			fmt.Fprintf(w, `<text x="%.1f" y="%d" text-anchor="middle">%g%%</text>`, xp(c), oy+ph+14, c)
		}
		fmt.Fprintln(w)
		for _, name := range contenders {
			var line []string
			for _, c := range caps {
				for _, p := range pts {
					if p.trace == tr && p.contender == name && p.capacity == c && !math.IsNaN(p.s.Median) {
						line = append(line, fmt.Sprintf("%.1f,%.1f", xp(c), yp(p.s.Median)))
						fmt.Fprintf(w, `<circle cx="%.1f" cy="%.1f" r="2.5" fill="%s"/>`, xp(c), yp(p.s.Median), color(name))
					}
				}
			}
			if len(line) > 1 {
				fmt.Fprintf(w, `<polyline points="%s" fill="none" stroke="%s" stroke-width="2"/>`+"\n", strings.Join(line, " "), color(name))
			}
		}
	}
	ly := head + rows*(ph+pad+20)
	for i, name := range contenders {
		fmt.Fprintf(w, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="3"/><text x="%d" y="%d">%s</text>`+"\n",
			pad, ly+i*20, pad+24, ly+i*20, color(name), pad+30, ly+i*20+4, esc(name))
	}
	fmt.Fprintln(w, "</svg>")
	return true
}

func containsF(s []float64, v float64) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
