package sketch

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
)

// Every encoded sketch has the layout
//
//	magic   [4]byte   "SKBF" (Bloom), "SKHL" (HyperLogLog), "SKCM" (Count-Min),
//	                  "SKTK" (Top-K)
//	version uint8     formatVersion
//	payload …         kind-specific, integers big-endian
//	crc     uint32    CRC-32C of everything before it, big-endian
//
// A decoder checks magic, version, checksum and the payload's own length
// and field constraints, so truncated, padded or bit-flipped input is
// rejected with ErrCorrupt rather than decoded into a wrong sketch.

const (
	formatVersion = 1
	headerLen     = 5 // magic + version
	trailerLen    = 4 // crc
)

var (
	magicBloom     = [4]byte{'S', 'K', 'B', 'F'}
	magicHLL       = [4]byte{'S', 'K', 'H', 'L'}
	magicCountMin  = [4]byte{'S', 'K', 'C', 'M'}
	magicTopK      = [4]byte{'S', 'K', 'T', 'K'}
	castagnoli     = crc32.MakeTable(crc32.Castagnoli)
	errShortHeader = fmt.Errorf("%w: shorter than the header and checksum", ErrCorrupt)
)

// appendHeader appends the magic and version to b.
func appendHeader(b []byte, magic [4]byte) []byte {
	b = append(b, magic[:]...)
	return append(b, formatVersion)
}

// appendTrailer appends the checksum of b[start:] to b.
func appendTrailer(b []byte, start int) []byte {
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b[start:], castagnoli))
}

// openEnvelope checks magic, version and checksum of data and returns the
// payload between header and trailer. what names the sketch kind in errors.
func openEnvelope(data []byte, magic [4]byte, what string) ([]byte, error) {
	if len(data) < headerLen+trailerLen {
		return nil, fmt.Errorf("%s: %w (%d bytes)", what, errShortHeader, len(data))
	}
	if [4]byte(data[:4]) != magic {
		return nil, fmt.Errorf("%s: %w: magic %q, want %q", what, ErrCorrupt, data[:4], magic[:])
	}
	if v := data[4]; v != formatVersion {
		return nil, fmt.Errorf("%s: %w: version %d (this release reads %d)", what, ErrUnsupportedVersion, v, formatVersion)
	}
	body := data[:len(data)-trailerLen]
	want := binary.BigEndian.Uint32(data[len(data)-trailerLen:])
	if got := crc32.Checksum(body, castagnoli); got != want {
		return nil, fmt.Errorf("%s: %w: checksum %08x, want %08x", what, ErrCorrupt, got, want)
	}
	return body[headerLen:], nil
}
