package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/scalekit-go/scalekit/idgen"
	"github.com/scalekit-go/scalekit/idgen/memidgen"
)

// maxBatch bounds GET /id?n=.
const maxBatch = 1000

// service holds the generators behind the HTTP API.
type service struct {
	node   *idgen.NodeLease
	ids    *idgen.Snowflake
	layout idgen.Layout
	ticket *idgen.Segment
}

// newService acquires a node id and builds the generators.
func newService(ctx context.Context) (*service, error) {
	layout := idgen.TwitterLayout
	lease, err := idgen.AcquireNode(ctx, memidgen.NewNodeIDs(nil), "quickstart", layout.MaxNode(), nil)
	if err != nil {
		return nil, fmt.Errorf("acquire node id: %w", err)
	}
	ids, err := idgen.NewSnowflake(lease.ID(), &idgen.SnowflakeOptions{Layout: &layout, Lease: lease})
	if err != nil {
		lease.Release(ctx)
		return nil, err
	}
	ticket, err := idgen.NewSegment(memidgen.NewSource(), "tickets", nil)
	if err != nil {
		lease.Release(ctx)
		return nil, err
	}
	return &service{node: lease, ids: ids, layout: layout, ticket: ticket}, nil
}

// Close stops the segment and gives the node id back.
func (s *service) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return errors.Join(s.ticket.Close(), s.node.Release(ctx))
}

// Handler routes the API.
func (s *service) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /id", s.handleID)
	mux.HandleFunc("GET /decode/{id}", s.handleDecode)
	mux.HandleFunc("GET /ticket", s.handleTicket)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	return mux
}

// idJSON is one ID in every encoding the service speaks.
type idJSON struct {
	ID     string `json:"id"` // decimal, as a string: JSON numbers lose precision past 2^53
	Base62 string `json:"base62"`
	Base32 string `json:"base32"`
}

func encodeID(id int64) idJSON {
	return idJSON{ID: strconv.FormatInt(id, 10), Base62: idgen.EncodeBase62(uint64(id)), Base32: idgen.EncodeBase32(uint64(id))}
}

func (s *service) handleID(w http.ResponseWriter, r *http.Request) {
	n := 1
	if q := r.URL.Query().Get("n"); q != "" {
		v, err := strconv.Atoi(q)
		if err != nil || v < 1 || v > maxBatch {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("n must be an integer in [1, %d], got %q", maxBatch, q))
			return
		}
		n = v
	}
	out := make([]idJSON, 0, n)
	for range n {
		id, err := s.ids.Next(r.Context())
		if err != nil {
			writeError(w, http.StatusServiceUnavailable, err.Error())
			return
		}
		out = append(out, encodeID(id))
	}
	if n == 1 && r.URL.Query().Get("n") == "" {
		writeJSON(w, http.StatusOK, out[0])
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// decodedJSON is the answer of GET /decode/{id}.
type decodedJSON struct {
	idJSON
	Time     time.Time `json:"time"`
	Node     int64     `json:"node"`
	Sequence int64     `json:"sequence"`
}

// parseID reads id in the encoding named by format, or guesses: all digits
// is decimal, otherwise base62.
func parseID(s, format string) (int64, error) {
	var u uint64
	var err error
	switch format {
	case "decimal":
		u, err = strconv.ParseUint(s, 10, 63)
	case "base62":
		u, err = idgen.DecodeBase62(s)
	case "base32":
		u, err = idgen.DecodeBase32(s)
	case "":
		if _, derr := strconv.ParseUint(s, 10, 63); derr == nil && len(s) >= 15 {
			return parseID(s, "decimal")
		}
		return parseID(s, "base62")
	default:
		return 0, fmt.Errorf("format must be decimal, base62 or base32, got %q", format)
	}
	if err != nil {
		return 0, err
	}
	if u > 1<<63-1 {
		return 0, fmt.Errorf("%s is larger than a 63-bit ID", s)
	}
	return int64(u), nil
}

func (s *service) handleDecode(w http.ResponseWriter, r *http.Request) {
	id, err := parseID(r.PathValue("id"), r.URL.Query().Get("format"))
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	p, err := s.layout.Decode(id)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, decodedJSON{idJSON: encodeID(id), Time: p.Time.UTC(), Node: p.Node, Sequence: p.Sequence})
}

func (s *service) handleTicket(w http.ResponseWriter, r *http.Request) {
	id, err := s.ticket.Next(r.Context())
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, encodeID(id))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}
