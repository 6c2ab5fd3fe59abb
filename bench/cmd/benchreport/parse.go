package main

import (
	"bufio"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
)

// A sample is one benchmark result line of one round.
type sample struct {
	Name    string             // full name without the -GOMAXPROCS suffix
	Round   int                // 0-based round it came from
	Metrics map[string]float64 // unit → value ("ns/op", "B/op", "allocs/op", custom)
}

// parse reads `go test -bench` output and returns its result lines.
func parse(r io.Reader, round int) []sample {
	var out []sample
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		if _, err := strconv.Atoi(f[1]); err != nil {
			continue
		}
		s := sample{Name: trimProcs(f[0]), Round: round, Metrics: map[string]float64{}}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				break
			}
			s.Metrics[f[i+1]] = v
		}
		out = append(out, s)
	}
	return out
}

// trimProcs drops the "-N" GOMAXPROCS suffix go test appends.
func trimProcs(name string) string {
	i := strings.LastIndexByte(name, '-')
	if i < 0 {
		return name
	}
	if _, err := strconv.Atoi(name[i+1:]); err != nil {
		return name
	}
	return name[:i]
}

// split cuts "BenchmarkX/a/lib" into the comparison "BenchmarkX/a" and the
// contender "lib".
func split(name string) (group, contender string) {
	i := strings.LastIndexByte(name, '/')
	if i < 0 {
		return name, ""
	}
	return name[:i], name[i+1:]
}

// stats summarises values: median, minimum and maximum.
type stats struct{ Median, Min, Max float64 }

func summarize(v []float64) stats {
	if len(v) == 0 {
		return stats{math.NaN(), math.NaN(), math.NaN()}
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	m := s[len(s)/2]
	if len(s)%2 == 0 {
		m = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return stats{m, s[0], s[len(s)-1]}
}

// A comparison is one group: scalekit against each peer, per round.
type comparison struct {
	Group    string
	Base     string               // the scalekit contender
	Peers    []string             // the others, in first-seen order
	Values   map[string][]float64 // contender → ns/op per round
	Allocs   map[string][]float64
	Ratios   map[string][]float64 // peer → base ns/op ÷ peer ns/op, per round
	Extra    map[string]map[string][]float64
	extraUse []string
}

// compare groups samples into comparisons. Only groups with a contender
// whose name starts with "scalekit" and at least one other become
// comparisons; ratios are taken round by round (A and B of the same round
// ran back to back), so a slow round moves both.
func compare(samples []sample) []*comparison {
	byGroup := map[string]*comparison{}
	var order []string
	for _, s := range samples {
		g, c := split(s.Name)
		if c == "" {
			continue
		}
		cmp := byGroup[g]
		if cmp == nil {
			cmp = &comparison{Group: g, Values: map[string][]float64{}, Allocs: map[string][]float64{},
				Ratios: map[string][]float64{}, Extra: map[string]map[string][]float64{}}
			byGroup[g] = cmp
			order = append(order, g)
		}
		if _, seen := cmp.Values[c]; !seen {
			if strings.HasPrefix(c, "scalekit") && cmp.Base == "" {
				cmp.Base = c
			} else {
				cmp.Peers = append(cmp.Peers, c)
			}
		}
		cmp.Values[c] = append(cmp.Values[c], s.Metrics["ns/op"])
		cmp.Allocs[c] = append(cmp.Allocs[c], s.Metrics["allocs/op"])
		for unit, v := range s.Metrics {
			switch unit {
			case "ns/op", "B/op", "allocs/op", "MB/s":
				continue
			}
			if cmp.Extra[c] == nil {
				cmp.Extra[c] = map[string][]float64{}
			}
			if _, ok := cmp.Extra[c][unit]; !ok && !contains(cmp.extraUse, unit) {
				cmp.extraUse = append(cmp.extraUse, unit)
			}
			cmp.Extra[c][unit] = append(cmp.Extra[c][unit], v)
		}
	}
	var out []*comparison
	for _, g := range order {
		cmp := byGroup[g]
		if cmp.Base == "" || len(cmp.Peers) == 0 {
			continue
		}
		base := cmp.Values[cmp.Base]
		for _, p := range cmp.Peers {
			pv := cmp.Values[p]
			for i := 0; i < len(base) && i < len(pv); i++ {
				if pv[i] > 0 {
					cmp.Ratios[p] = append(cmp.Ratios[p], base[i]/pv[i])
				}
			}
		}
		out = append(out, cmp)
	}
	return out
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
