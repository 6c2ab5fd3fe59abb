package main

import (
	"fmt"
	"io"
	"math"
	"strings"
)

// throughputUnits are the custom metrics the queue rows report, in order
// of preference.
var throughputUnits = []string{"msgs/s", "jobs/s"}

// A throughputBar is one contender of one queue row.
type throughputBar struct {
	group, contender string
	base             bool // scalekit's
	s                stats
}

// queueBars collects the throughput of every contender of the end-to-end
// BenchmarkCmpQueue… comparisons, scalekit first within each row. Rows
// that only publish (a name with "Insert" or "Publish") are left out: the
// chart compares publish + consume + ack.
func queueBars(cmps []*comparison) []throughputBar {
	var bars []throughputBar
	for _, c := range cmps {
		if !strings.HasPrefix(c.Group, "BenchmarkCmpQueue") || strings.Contains(c.Group, "Insert") || strings.Contains(c.Group, "Publish") {
			continue
		}
		for _, name := range append([]string{c.Base}, c.Peers...) {
			for _, u := range throughputUnits {
				if v, ok := c.Extra[name][u]; ok {
					bars = append(bars, throughputBar{strings.TrimPrefix(c.Group, "BenchmarkCmpQueue"), name, name == c.Base, summarize(v)})
					break
				}
			}
		}
	}
	return bars
}

// queueSVG draws one horizontal bar per contender of each queue row: the
// median messages (or jobs) per second on a linear axis, the spread over
// the rounds as a whisker. It returns false, writing nothing, when no
// queue row is in cmps.
func queueSVG(w io.Writer, cmps []*comparison) bool {
	bars := queueBars(cmps)
	if len(bars) == 0 {
		return false
	}
	top := 0.0
	for _, b := range bars {
		top = math.Max(top, b.s.Max)
	}
	const left, width, rowH, head = 300, 420, 20, 40
	groups := 0
	for i, b := range bars {
		if i == 0 || b.group != bars[i-1].group {
			groups++
		}
	}
	h := head + rowH*len(bars) + 8*groups + 40
	x := func(v float64) float64 { return left + v/top*width }
	fmt.Fprintf(w, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">`+"\n", left+width+110, h)
	fmt.Fprintf(w, `<rect width="100%%" height="100%%" fill="white"/><text x="10" y="20" font-size="14" font-weight="bold">throughput per queue backend: publish + consume + ack (scalekit vs raw client / peer)</text>`+"\n")
	y := head
	for i, b := range bars {
		if i > 0 && b.group != bars[i-1].group {
			y += 8
		}
		color := "#868e96"
		if b.base {
			color = "#1c7ed6"
		}
		fmt.Fprintf(w, `<text x="%d" y="%d" text-anchor="end">%s</text>`, left-8, y+13, esc(b.group+" · "+b.contender))
		fmt.Fprintf(w, `<rect x="%d" y="%d" width="%.1f" height="14" fill="%s"/>`, left, y+2, math.Max(1, x(b.s.Median)-left), color)
		fmt.Fprintf(w, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="black"/>`, x(b.s.Min), y+9, x(b.s.Max), y+9)
		fmt.Fprintf(w, `<text x="%.1f" y="%d">%s/s</text>`+"\n", x(b.s.Max)+6, y+13, si(b.s.Median))
		y += rowH
	}
	fmt.Fprintf(w, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>`, left, head-4, left, y)
	fmt.Fprintf(w, `<text x="%d" y="%d" fill="#555">messages (jobs) per second, median of the rounds; whisker: min–max; blue: scalekit</text>`, left, h-10)
	fmt.Fprintln(w, "</svg>")
	return true
}

// si writes v with a k or M suffix.
func si(v float64) string {
	switch {
	case math.IsNaN(v):
		return "–"
	case v >= 1e6:
		return fmt.Sprintf("%.2fM", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.1fk", v/1e3)
	default:
		return fmt.Sprintf("%.0f", v)
	}
}
