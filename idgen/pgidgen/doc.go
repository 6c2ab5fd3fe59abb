// Package pgidgen is the PostgreSQL segment source for idgen.Segment: a
// ticket-server table with one row per sequence, advanced by a single
// upsert per block:
//
//	INSERT INTO scalekit_idgen_segments (name, next_id) VALUES ($1, 1 + $2)
//	ON CONFLICT (name) DO UPDATE SET next_id = scalekit_idgen_segments.next_id + $2
//	RETURNING next_id - $2
//
// The row lock serialises concurrent fetches, so blocks never overlap, and
// the committed row survives restarts and crashes of the server (with the
// default fsync and synchronous_commit settings), so no block is handed out
// twice. One round trip per block.
package pgidgen
