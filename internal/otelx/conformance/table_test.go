package conformance_test

import (
	"bufio"
	"os"
	"regexp"
	"strings"
	"testing"
)

// row is one line of a docs/metrics.md table.
type row struct {
	line    int
	name    string
	typ     string          // metrics: "int64 counter"; spans: the kind
	unit    string          // metrics only
	req     map[string]bool // attributes on every data point or span
	opt     map[string]bool // attributes marked (opt)
	open    bool            // a final … allows further attributes
	aliases []string        // span names given as "also `x`" in the meaning
}

const docPath = "../../../docs/metrics.md"

var (
	codeRe  = regexp.MustCompile("`([^`]+)`")
	alsoRe  = regexp.MustCompile(`also ((?:` + "`[^`]+`" + `(?:, | and )?)+)`)
	asyncRe = regexp.MustCompile(`\s*\(async\)`)
)

// parseTable returns the rows of the table under the "## <section>"
// heading of docs/metrics.md.
func parseTable(t *testing.T, section string) []row {
	t.Helper()
	f, err := os.Open(docPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rows []row
	in, n := false, 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		n++
		line := sc.Text()
		if strings.HasPrefix(line, "## ") {
			in = strings.TrimSpace(line[3:]) == section
			continue
		}
		if !in || !strings.HasPrefix(line, "| `") && !strings.HasPrefix(line, "| {") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		r := row{line: n, name: strings.Trim(cells[0], "`"), req: map[string]bool{}, opt: map[string]bool{}}
		var attrs, meaning string
		switch section {
		case "Metrics":
			if len(cells) != 5 {
				t.Fatalf("%s:%d: %d cells, want 5", docPath, n, len(cells))
			}
			r.typ = asyncRe.ReplaceAllString(cells[1], "")
			r.unit = strings.Trim(cells[2], "`")
			attrs, meaning = cells[3], cells[4]
		default:
			if len(cells) != 4 {
				t.Fatalf("%s:%d: %d cells, want 4", docPath, n, len(cells))
			}
			r.typ, attrs, meaning = cells[1], cells[2], cells[3]
		}
		for _, a := range strings.Split(attrs, ",") {
			a = strings.TrimSpace(a)
			switch {
			case a == "…":
				r.open = true
			case strings.HasSuffix(a, "(opt)"):
				r.opt[strings.Trim(strings.TrimSpace(strings.TrimSuffix(a, "(opt)")), "`")] = true
			case a != "":
				r.req[strings.Trim(a, "`")] = true
			}
		}
		if m := alsoRe.FindStringSubmatch(meaning); m != nil {
			for _, c := range codeRe.FindAllStringSubmatch(m[1], -1) {
				r.aliases = append(r.aliases, c[1])
			}
		}
		rows = append(rows, r)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(rows) == 0 {
		t.Fatalf("%s: no rows under ## %s", docPath, section)
	}
	return rows
}

// checkAttrs compares one data point's or span's attribute keys with r.
func checkAttrs(t *testing.T, what string, r row, keys []string) {
	t.Helper()
	have := map[string]bool{}
	for _, k := range keys {
		have[k] = true
		if !r.req[k] && !r.opt[k] && !r.open {
			t.Errorf("%s: attribute %q not in docs/metrics.md:%d", what, k, r.line)
		}
	}
	for k := range r.req {
		if !have[k] {
			t.Errorf("%s: attribute %q (docs/metrics.md:%d) missing; has %v", what, k, r.line, keys)
		}
	}
}
