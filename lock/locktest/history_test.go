package locktest

import (
	"bytes"
	"strings"
	"testing"
)

func TestCheckHolds(t *testing.T) {
	ok := []Hold{{"a", 1, 10, 20}, {"b", 2, 20, 30}, {"c", 5, 31, 40}}
	if err := CheckHolds(ok); err != nil {
		t.Fatalf("valid history: %v", err)
	}
	for name, c := range map[string]struct {
		holds []Hold
		want  string
	}{
		"overlap":       {[]Hold{{"a", 1, 10, 25}, {"b", 2, 20, 30}}, "mutual exclusion violated"},
		"same token":    {[]Hold{{"a", 3, 10, 15}, {"b", 3, 20, 30}}, "do not increase"},
		"token order":   {[]Hold{{"a", 4, 10, 15}, {"b", 3, 20, 30}}, "do not increase"},
		"ends too soon": {[]Hold{{"a", 1, 10, 5}}, "ends before"},
	} {
		err := CheckHolds(c.holds)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: CheckHolds = %v, want an error containing %q", name, err, c.want)
		}
	}
	var buf bytes.Buffer
	if err := WriteHolds(&buf, ok); err != nil {
		t.Fatal(err)
	}
	buf.WriteString("PASS\n")
	got, err := ReadHolds(&buf)
	if err != nil || len(got) != 3 || got[2] != ok[2] {
		t.Fatalf("ReadHolds = %v, %v", got, err)
	}
	if _, err := ReadHolds(strings.NewReader("hold a x 1 2\n")); err == nil {
		t.Fatal("ReadHolds accepted a malformed line")
	}
}
