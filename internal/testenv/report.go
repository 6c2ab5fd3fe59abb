package testenv

import (
	"slices"
	"testing"
)

// ReportSpread reports the median of xs as metric name, and its minimum
// and maximum as name-min and name-max (nothing when xs is empty): the
// way the benchmarks that interleave contenders round by round report a
// per-round ratio.
func ReportSpread(b *testing.B, xs []float64, name string) {
	if len(xs) == 0 {
		return
	}
	s := slices.Sorted(slices.Values(xs))
	b.ReportMetric(s[len(s)/2], name)
	b.ReportMetric(s[0], name+"-min")
	b.ReportMetric(s[len(s)-1], name+"-max")
}
