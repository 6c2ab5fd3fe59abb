package shard

import "math"

// Rendezvous is weighted highest-random-weight hashing (Thaler and Ravishankar;
// weighted form of Schindelhauer and Schomaker): node i scores
// -w_i / ln(u_i(key)) with u_i uniform in (0,1) from Hash(key) and the
// node's name, and the key goes to the highest score. A node receives a
// share w_i/Σw of keys, and adding or removing one node moves only the keys
// it gains or loses. Lookup costs O(N) per key. Immutable and safe for
// concurrent use; Lookup does not allocate.
type Rendezvous struct {
	nodes    []string
	seeds    []uint64
	weights  []float64
	weighted bool
}

// NewRendezvous returns a rendezvous strategy over nodes.
func NewRendezvous(nodes []Node) (*Rendezvous, error) {
	names, weights, err := checkNodes("shard.NewRendezvous", nodes)
	if err != nil {
		return nil, err
	}
	r := &Rendezvous{nodes: names, weights: weights, seeds: make([]uint64, len(names))}
	for i, n := range names {
		r.seeds[i] = Hash(n)
		if weights[i] != weights[0] {
			r.weighted = true
		}
	}
	return r, nil
}

// Nodes implements Strategy.
func (r *Rendezvous) Nodes() []string { return r.nodes }

// unit maps a 64-bit hash to a float64 uniform in the open interval (0,1).
func unit(h uint64) float64 { return (float64(h>>11) + 0.5) / (1 << 53) }

// Score returns node i's score for the key hash kh; the owner of a key is
// the node with the highest score. It is exported for tests and for callers
// that need a full ranking.
func (r *Rendezvous) Score(kh uint64, i int) float64 {
	return -r.weights[i] / math.Log(unit(hash2(kh, r.seeds[i])))
}

// Lookup implements Strategy; it never fails.
func (r *Rendezvous) Lookup(key string) (int, error) {
	kh := Hash(key)
	best := 0
	if !r.weighted {
		// Equal weights: the score is monotone in the hash, so compare
		// hashes and skip the logarithm.
		var bh uint64
		for i, s := range r.seeds {
			if h := hash2(kh, s); h > bh || i == 0 {
				best, bh = i, h
			}
		}
		return best, nil
	}
	bs := math.Inf(-1)
	for i := range r.seeds {
		if s := r.Score(kh, i); s > bs {
			best, bs = i, s
		}
	}
	return best, nil
}
