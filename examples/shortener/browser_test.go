package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/scalekit-go/scalekit/internal/testenv"
)

// TestBrowser drives Debian's headless Chromium through the page: create a
// link, follow it, read its stats page (charts and QR code) and the
// dashboard. make test installs chromium (scripts/ensure-backends.sh).
func TestBrowser(t *testing.T) {
	path, err := exec.LookPath("chromium")
	if err != nil {
		if testenv.Required() {
			t.Fatal("chromium is not installed: apt-get install -y chromium (make test does it)")
		}
		t.Skip("chromium is not installed")
	}
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("<!doctype html><title>landed</title><p id=landed>landed</p>"))
	}))
	defer target.Close()
	c := start(t, modes[1], nil) // three nodes behind the proxy

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox,
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserAgent("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancel()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	// The first Do starts the browser; its context must not have a timeout.
	if err := chromedp.Do(ctx, chromedp.Navigate(c.URL()+"/")); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	ctx, cancel = context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return s
	}
	step := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}

	step("create a link",
		chromedp.WaitVisible(chromedp.CSS(`#url`)),
		chromedp.SendKeys(chromedp.CSS(`#url`), target.URL+"/dest"),
		chromedp.Click(chromedp.CSS(`#shorten`)),
		chromedp.WaitVisible(chromedp.CSS(`#result`)),
		chromedp.WaitVisible(chromedp.CSS(`#qr svg`)))
	short := text(`#short`)
	if !strings.HasPrefix(short, c.URL()+"/") {
		t.Fatalf("short link %q", short)
	}
	code := strings.TrimPrefix(short, c.URL()+"/")
	step("follow it", chromedp.Navigate(short), chromedp.WaitVisible(chromedp.CSS(`#landed`)))
	if landed := text(`#landed`); landed != "landed" {
		t.Fatalf("landed on %q", landed)
	}
	// Analytics lag by a moment: reload the stats page until the click shows.
	eventually(t, 15*time.Second, "stats page shows the click", func() bool {
		err := chromedp.Do(ctx, chromedp.Navigate(c.URL()+"/?stats="+code),
			chromedp.WaitVisible(chromedp.CSS(`body[data-loaded="stats"]`)))
		return err == nil && text(`#clicks`) == "1"
	})
	step("stats charts", chromedp.WaitVisible(chromedp.CSS(`#hours svg rect.bar`)), chromedp.WaitVisible(chromedp.CSS(`#sqr svg`)))
	if browsers := text(`#browsers`); !strings.Contains(browsers, "Chrome") {
		t.Fatalf("browsers chart %q", browsers)
	}
	step("dashboard", chromedp.Navigate(c.URL()+"/debug/scalekit"), chromedp.WaitVisible(chromedp.CSS(`body[data-loaded="debug"]`)))
	summary, lbTable := text(`#summary`), text(`#lb`)
	for _, want := range []string{"hit ratio", "node-id lease", "backlog", "shards"} {
		if !strings.Contains(summary, want) {
			t.Fatalf("dashboard lacks %q: %s", want, summary)
		}
	}
	if strings.Count(lbTable, "127.0.0.1:") != 3 {
		t.Fatalf("dashboard lb table: %s", lbTable)
	}
}
