package sketch_test

import (
	"bytes"
	"encoding"
	"errors"
	"fmt"
	"strconv"
	"testing"

	"github.com/scalekit-go/scalekit/sketch"
)

// codec is what every sketch implements for encoding.
type codec interface {
	encoding.BinaryMarshaler
	encoding.BinaryUnmarshaler
}

// filled returns one filled sketch of each kind, a fresh empty one to
// decode into, and a probe that summarises a sketch's answers.
func filled(t *testing.T) []struct {
	name  string
	src   codec
	empty func() codec
	sum   func(codec) string
} {
	t.Helper()
	b, _ := sketch.NewBloom(1000, 0.01)
	h, _ := sketch.NewHyperLogLog(10)
	hd, _ := sketch.NewHyperLogLog(4) // small precision: goes dense quickly
	c, _ := sketch.NewCountMin(0.01, 0.01)
	for i := range 500 {
		k := "k" + strconv.Itoa(i)
		b.AddString(k)
		h.AddString(k)
		hd.AddString(k)
		c.AddString(k, uint64(i))
	}
	bloomSum := func(x codec) string {
		f := x.(*sketch.Bloom)
		s := ""
		for i := range 600 {
			if f.TestString("k" + strconv.Itoa(i)) {
				s += "1"
			} else {
				s += "0"
			}
		}
		return s + strconv.FormatUint(f.Bits(), 10) + "/" + strconv.FormatUint(f.Hashes(), 10)
	}
	hllSum := func(x codec) string {
		f := x.(*sketch.HyperLogLog)
		return strconv.FormatUint(f.Count(), 10) + "/" + strconv.Itoa(int(f.Precision()))
	}
	tk, _ := sketch.NewTopK(5, &sketch.TopKOptions{Epsilon: 0.01})
	for i := range 500 {
		tk.AddN("k"+strconv.Itoa(i%40), uint64(i%40))
	}
	tkSum := func(x codec) string {
		f := x.(*sketch.TopK)
		return fmt.Sprint(f.K(), f.List(), f.Total(), f.Count("k7"), f.Count("zz"))
	}
	cmSum := func(x codec) string {
		f := x.(*sketch.CountMin)
		s := strconv.FormatUint(f.Total(), 10)
		for i := range 600 {
			s += "," + strconv.FormatUint(f.CountString("k"+strconv.Itoa(i)), 10)
		}
		return s
	}
	return []struct {
		name  string
		src   codec
		empty func() codec
		sum   func(codec) string
	}{
		{"bloom", b, func() codec { return new(sketch.Bloom) }, bloomSum},
		{"hll-sparse", h, func() codec { return new(sketch.HyperLogLog) }, hllSum},
		{"hll-dense", hd, func() codec { return new(sketch.HyperLogLog) }, hllSum},
		{"countmin", c, func() codec { return new(sketch.CountMin) }, cmSum},
		{"topk", tk, func() codec { return new(sketch.TopK) }, tkSum},
	}
}

func TestEncodingRoundTrip(t *testing.T) {
	for _, tc := range filled(t) {
		t.Run(tc.name, func(t *testing.T) {
			data, err := tc.src.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			dst := tc.empty()
			if err := dst.UnmarshalBinary(data); err != nil {
				t.Fatal(err)
			}
			if got, want := tc.sum(dst), tc.sum(tc.src); got != want {
				t.Fatalf("decoded sketch answers differently:\n got %.80s\nwant %.80s", got, want)
			}
			again, _ := dst.MarshalBinary()
			if !bytes.Equal(again, data) {
				t.Fatal("re-encoding the decoded sketch gives different bytes")
			}
		})
	}
}

// TestEncodingRejectsDamage truncates, extends and flips bits of every
// encoding, and feeds each kind's bytes to the other kinds: every case must
// be an error wrapping ErrCorrupt or ErrUnsupportedVersion, and the target
// must keep its contents.
func TestEncodingRejectsDamage(t *testing.T) {
	cases := filled(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			data, _ := tc.src.MarshalBinary()
			want := tc.sum(tc.src)
			// The target holds the original; failed decodes must not touch it.
			dst := tc.empty()
			if err := dst.UnmarshalBinary(data); err != nil {
				t.Fatal(err)
			}
			bad := func(what string, in []byte, sentinel error) {
				t.Helper()
				err := dst.UnmarshalBinary(in)
				if !errors.Is(err, sentinel) {
					t.Fatalf("%s: err = %v, want %v", what, err, sentinel)
				}
				if tc.sum(dst) != want {
					t.Fatalf("%s: failed decode changed the sketch", what)
				}
			}
			for n := 0; n < len(data); n += 1 + n/16 {
				bad("truncated to "+strconv.Itoa(n), data[:n], sketch.ErrCorrupt)
			}
			bad("extra byte", append(bytes.Clone(data), 0), sketch.ErrCorrupt)
			for i := 0; i < len(data); i += 1 + i/32 {
				for _, bit := range []byte{1, 0x80} {
					d := bytes.Clone(data)
					d[i] ^= bit
					sentinel := sketch.ErrCorrupt
					if i == 4 {
						sentinel = sketch.ErrUnsupportedVersion
					}
					bad("bit flip at "+strconv.Itoa(i), d, sentinel)
				}
			}
			for _, other := range cases {
				if other.name[:3] == tc.name[:3] {
					continue
				}
				od, _ := other.src.MarshalBinary()
				bad(other.name+" bytes", od, sketch.ErrCorrupt)
			}
			bad("nil", nil, sketch.ErrCorrupt)
			bad("garbage", []byte("not a sketch at all"), sketch.ErrCorrupt)
		})
	}
}

func TestEncodingMessages(t *testing.T) {
	b, _ := sketch.NewBloom(10, 0.1)
	data, _ := b.MarshalBinary()
	data[4] = 9
	var dst sketch.Bloom
	err := dst.UnmarshalBinary(data)
	if err == nil || err.Error() != "sketch: unmarshal bloom: unsupported encoding version: version 9 (this release reads 1)" {
		t.Fatalf("version error reads %q", err)
	}
	var cm sketch.CountMin
	err = cm.UnmarshalBinary([]byte("SKHL\x01abcd"))
	if err == nil || !errors.Is(err, sketch.ErrCorrupt) {
		t.Fatalf("count-min from HLL magic: %v", err)
	}
	t.Log(err)
	var zero sketch.Bloom
	if _, err := zero.MarshalBinary(); !errors.Is(err, sketch.ErrInvalidParameter) {
		t.Fatalf("marshal zero Bloom: %v", err)
	}
	var zcm sketch.CountMin
	if _, err := zcm.MarshalBinary(); !errors.Is(err, sketch.ErrInvalidParameter) {
		t.Fatalf("marshal zero CountMin: %v", err)
	}
	var ztk sketch.TopK
	if _, err := ztk.MarshalBinary(); !errors.Is(err, sketch.ErrInvalidParameter) {
		t.Fatalf("marshal zero TopK: %v", err)
	}
}

func FuzzBloomUnmarshal(f *testing.F) {
	b, _ := sketch.NewBloom(100, 0.05)
	b.AddString("seed")
	data, _ := b.MarshalBinary()
	f.Add(data)
	f.Add([]byte("SKBF\x01"))
	f.Fuzz(func(t *testing.T, in []byte) {
		var x sketch.Bloom
		if x.UnmarshalBinary(in) != nil {
			return
		}
		out, err := x.MarshalBinary()
		if err != nil || !bytes.Equal(out, in) {
			t.Fatalf("accepted input does not re-encode to itself (err %v)", err)
		}
		x.TestString("seed")
	})
}

func FuzzHyperLogLogUnmarshal(f *testing.F) {
	for _, p := range []uint8{4, 14} {
		h, _ := sketch.NewHyperLogLog(p)
		for i := range 100 {
			h.AddString(strconv.Itoa(i))
		}
		data, _ := h.MarshalBinary()
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var x sketch.HyperLogLog
		if x.UnmarshalBinary(in) != nil {
			return
		}
		x.Count()
		x.AddString("more")
		if _, err := x.MarshalBinary(); err != nil {
			t.Fatalf("accepted input does not re-encode: %v", err)
		}
	})
}

func FuzzTopKUnmarshal(f *testing.F) {
	t, _ := sketch.NewTopK(3, &sketch.TopKOptions{Epsilon: 0.1, Delta: 0.1})
	t.AddN("a", 5)
	t.AddN("b", 2)
	data, _ := t.MarshalBinary()
	f.Add(data)
	f.Fuzz(func(t *testing.T, in []byte) {
		var x sketch.TopK
		if x.UnmarshalBinary(in) != nil {
			return
		}
		x.Add("more")
		x.List()
		if _, err := x.MarshalBinary(); err != nil {
			t.Fatalf("accepted input does not re-encode: %v", err)
		}
	})
}

func FuzzCountMinUnmarshal(f *testing.F) {
	c, _ := sketch.NewCountMinSize(8, 2)
	c.AddString("seed", 3)
	data, _ := c.MarshalBinary()
	f.Add(data)
	f.Fuzz(func(t *testing.T, in []byte) {
		var x sketch.CountMin
		if x.UnmarshalBinary(in) != nil {
			return
		}
		out, err := x.MarshalBinary()
		if err != nil || !bytes.Equal(out, in) {
			t.Fatalf("accepted input does not re-encode to itself (err %v)", err)
		}
		x.AddString("seed", 1)
	})
}
