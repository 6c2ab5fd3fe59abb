#!/bin/sh
# assemble-readme.sh rewrites the package sections of README.md from
# docs/sections/*.md, in package-map order, between the SECTIONS markers.
set -eu
cd "$(dirname "$0")/.."
order="idgen lock lock-backends cache sketch ratelimit httpx httpx-client lb"
tmp=$(mktemp)
{
	sed -n '1,/^<!-- SECTIONS -->$/p' README.md
	for p in $order; do
		f=docs/sections/$p.md
		[ -f "$f" ] || continue
		echo
		cat "$f"
	done
	echo
	sed -n '/^<!-- \/SECTIONS -->$/,$p' README.md
} >"$tmp"
mv "$tmp" README.md
