package main

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	qrcode "github.com/yeqown/go-qrcode/v2"

	"github.com/scalekit-go/scalekit/httpx"
)

// maxImportRows bounds one CSV import.
const maxImportRows = 10_000

// importResult is one line of an import's answer.
type importResult struct {
	Line  int    `json:"line"`
	Code  string `json:"code,omitempty"`
	Error string `json:"error,omitempty"`
}

// handleImport reads CSV (url[,alias[,expires_at[,max_visits]]]; an
// optional header line starting with "url") and creates one link per row.
// It answers 200 with a result per row: a bad row does not stop the rest.
func (n *node) handleImport(w http.ResponseWriter, r *http.Request) {
	if !n.requireKey(w, r) {
		return
	}
	ct := r.Header.Get("Content-Type")
	if !strings.HasPrefix(ct, "text/csv") && !strings.HasPrefix(ct, "text/plain") {
		httpx.Error(w, r, httpx.NewProblem(http.StatusUnsupportedMediaType, "send text/csv"))
		return
	}
	cr := csv.NewReader(r.Body)
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	var results []importResult
	created := 0
	for line := 1; ; line++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				httpx.Error(w, r, httpx.NewProblem(http.StatusRequestEntityTooLarge, "CSV too large"))
				return
			}
			results = append(results, importResult{Line: line, Error: "bad CSV: " + err.Error()})
			break
		}
		if line == 1 && len(rec) > 0 && strings.EqualFold(strings.TrimSpace(rec[0]), "url") {
			continue
		}
		if line > maxImportRows+1 {
			results = append(results, importResult{Line: line, Error: fmt.Sprintf("more than %d rows; stopped", maxImportRows)})
			break
		}
		req, err := parseRow(rec)
		if err == nil {
			var l Link
			if l, err = n.create(r.Context(), req); err == nil {
				created++
				results = append(results, importResult{Line: line, Code: l.Code})
				continue
			}
		}
		msg := err.Error()
		if p, ok := err.(*httpx.Problem); ok {
			msg = p.Detail
		}
		results = append(results, importResult{Line: line, Error: msg})
	}
	_ = httpx.WriteJSON(w, http.StatusOK, map[string]any{"created": created, "results": results})
}

func parseRow(rec []string) (createRequest, error) {
	var req createRequest
	get := func(i int) string {
		if i < len(rec) {
			return strings.TrimSpace(rec[i])
		}
		return ""
	}
	req.URL, req.Alias = get(0), get(1)
	if s := get(2); s != "" {
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			return req, badRequest("expires_at must be RFC 3339")
		}
		req.ExpiresAt = &t
	}
	if s := get(3); s != "" {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return req, badRequest("max_visits must be an integer")
		}
		req.MaxVisits = &v
	}
	return req, nil
}

// qrMatrix captures the module matrix of a QR code.
type qrMatrix struct{ bits [][]bool }

func (m *qrMatrix) Write(mat qrcode.Matrix) error { m.bits = mat.Bitmap(); return nil }
func (m *qrMatrix) Close() error                  { return nil }

// qrBits encodes s as a QR code and returns its modules, [y][x].
func qrBits(s string) ([][]bool, error) {
	qr, err := qrcode.NewWith(s, qrcode.WithErrorCorrectionLevel(qrcode.ErrorCorrectionMedium))
	if err != nil {
		return nil, err
	}
	var m qrMatrix
	if err := qr.Save(&m); err != nil {
		return nil, err
	}
	return m.bits, nil
}

// qrSVG draws the modules as one path, with a 4-module quiet zone.
func qrSVG(bits [][]bool) []byte {
	const quiet = 4
	size := len(bits) + 2*quiet
	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" shape-rendering="crispEdges">`, size, size)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="#fff"/><path fill="#000" d="`, size, size)
	for y, row := range bits {
		for x, on := range row {
			if on {
				fmt.Fprintf(&b, "M%d %dh1v1h-1z", x+quiet, y+quiet)
			}
		}
	}
	b.WriteString(`"/></svg>`)
	return b.Bytes()
}

// qrPNG draws the modules scale pixels each.
func qrPNG(bits [][]bool, scale int) ([]byte, error) {
	const quiet = 4
	size := (len(bits) + 2*quiet) * scale
	img := image.NewGray(image.Rect(0, 0, size, size))
	for i := range img.Pix {
		img.Pix[i] = 0xff
	}
	for y, row := range bits {
		for x, on := range row {
			if !on {
				continue
			}
			for dy := range scale {
				for dx := range scale {
					img.SetGray((x+quiet)*scale+dx, (y+quiet)*scale+dy, color.Gray{})
				}
			}
		}
	}
	var b bytes.Buffer
	err := png.Encode(&b, img)
	return b.Bytes(), err
}

func (n *node) handleQR(w http.ResponseWriter, r *http.Request) {
	l, ok := n.getLink(w, r)
	if !ok {
		return
	}
	bits, err := qrBits(n.view(r, l).ShortURL)
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	var body []byte
	if strings.HasSuffix(r.URL.Path, ".svg") {
		body = qrSVG(bits)
		w.Header().Set("Content-Type", "image/svg+xml")
	} else {
		scale := 8
		if s := r.URL.Query().Get("scale"); s != "" {
			v, err := strconv.Atoi(s)
			if err != nil || v < 1 || v > 32 {
				httpx.Error(w, r, badRequest("scale must be 1 to 32"))
				return
			}
			scale = v
		}
		if body, err = qrPNG(bits, scale); err != nil {
			httpx.Error(w, r, err)
			return
		}
		w.Header().Set("Content-Type", "image/png")
	}
	tag := httpx.StrongETag(body)
	if httpx.CheckPreconditions(w, r, httpx.Validators{ETag: tag, HasETag: true, Exists: true}) {
		return
	}
	w.Header().Set("ETag", tag.String())
	w.Header().Set("Cache-Control", "public, max-age=86400")
	_, _ = w.Write(body)
}
