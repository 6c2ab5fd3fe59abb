module github.com/scalekit-go/scalekit/bench

go 1.24.0

replace github.com/scalekit-go/scalekit => ..

require (
	github.com/hashicorp/golang-lru/v2 v2.0.7
	github.com/maypok86/otter/v2 v2.4.0
	github.com/scalekit-go/scalekit v0.0.0-00010101000000-000000000000
)
