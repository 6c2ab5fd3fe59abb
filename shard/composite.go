package shard

import (
	"fmt"
	"slices"
)

// CompositeOptions configures NewComposite. Nil means both levels see the
// whole key.
type CompositeOptions struct {
	// OuterKey extracts the part of the key the outer strategy routes on
	// (for example the region prefix of "eu/user42"); nil means the key.
	OuterKey func(key string) string
	// InnerKey extracts the part the inner strategies route on; nil means
	// the key.
	InnerKey func(key string) string
}

// Composite routes in two steps: the outer strategy picks a group, and the
// group's own strategy picks the node (list by region, then jump hash
// inside the region). Its Nodes are the inner strategies' nodes
// concatenated in group order, and must be distinct. Immutable and safe for
// concurrent use; it allocates only if the key functions do.
type Composite struct {
	outer  Strategy
	inner  []Strategy
	offset []int
	nodes  []string
	ok, ik func(string) string
}

// NewComposite returns a composite of outer and one inner strategy per node
// of outer, keyed by the outer node's name.
func NewComposite(outer Strategy, inner map[string]Strategy, opts *CompositeOptions) (*Composite, error) {
	const op = "shard.NewComposite"
	if outer == nil {
		return nil, fmt.Errorf("%s: nil outer strategy: %w", op, ErrBadArgument)
	}
	c := &Composite{outer: outer}
	if opts != nil {
		c.ok, c.ik = opts.OuterKey, opts.InnerKey
	}
	for _, g := range outer.Nodes() {
		s, found := inner[g]
		if !found || s == nil {
			return nil, fmt.Errorf("%s: no inner strategy for group %q: %w", op, g, ErrBadArgument)
		}
		c.inner = append(c.inner, s)
		c.offset = append(c.offset, len(c.nodes))
		c.nodes = append(c.nodes, s.Nodes()...)
	}
	if len(inner) != len(c.inner) {
		for g := range inner {
			if !slices.Contains(outer.Nodes(), g) {
				return nil, fmt.Errorf("%s: inner strategy for unknown group %q: %w", op, g, ErrBadArgument)
			}
		}
	}
	if err := checkNames(op, c.nodes); err != nil {
		return nil, err
	}
	return c, nil
}

// Nodes implements Strategy.
func (c *Composite) Nodes() []string { return c.nodes }

// Lookup implements Strategy.
func (c *Composite) Lookup(key string) (int, error) {
	ok, ik := key, key
	if c.ok != nil {
		ok = c.ok(key)
	}
	if c.ik != nil {
		ik = c.ik(key)
	}
	g, err := c.outer.Lookup(ok)
	if err != nil {
		return 0, err
	}
	n, err := c.inner[g].Lookup(ik)
	if err != nil {
		return 0, err
	}
	return c.offset[g] + n, nil
}
