// Command lbproxy is a load balancer built on scalekit's lb package: an L7
// HTTP reverse proxy with routing rules, or an L4 TCP proxy.
//
//	# HTTP: video to the video servers, billing to billing, the rest to web
//	go run ./examples/lbproxy -listen :8080 -policy p2c -health /healthz \
//	    -route '/video/=10.0.0.1:8000,10.0.0.2:8000' \
//	    -route '/billing/=10.0.1.1:8000' \
//	    -route '/=10.0.2.1:8000*3,10.0.2.2:8000'       # addr*weight
//
//	# host rules, DNS discovery, sticky sessions
//	go run ./examples/lbproxy -listen :8080 -sticky srv \
//	    -route 'admin.example.com/=dns://admin.internal:8000'
//
//	# TCP (L4) with least connections
//	go run ./examples/lbproxy -mode tcp -listen :6379 -policy leastconn \
//	    -route '=10.0.3.1:6379,10.0.3.2:6379'
//
// A route is "[host]/prefix=endpoints"; endpoints are a comma-separated
// list of host:port[*weight], or dns://host:port (A/AAAA) or
// srv://_service._proto.name (re-resolved every -dns-interval). Endpoints
// that fail are ejected (passive outlier detection) and active checks run
// when -health is set (an HTTP path, or "tcp" for a connect check).
// SIGINT or SIGTERM stops accepting and lets open requests and
// connections finish for up to -drain.
package main
