// Package idgentest is the conformance suite for idgen drivers. A backend
// proves itself by calling RunSegmentSource or RunNodeIDs from a test
// against its real engine; every failure names the property that broke.
//
// The suite drives the driver both directly and through the concrete types
// of package idgen (Segment, AcquireNode), so it checks what applications
// rely on, not only the driver contract.
package idgentest
