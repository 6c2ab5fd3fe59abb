#!/usr/bin/env bash
# release.sh vX.Y.Z — tag a release of scalekit and of every nested module.
#
# The root module (github.com/scalekit-go/scalekit) and each nested module
# (every other go.mod in the tree: lock/etcdlock, lb/etcdlb, bench, and any
# added later) are released together at one version:
#
#   1. every nested module's require of an in-tree module is set to
#      vX.Y.Z (go mod edit), and the change is committed;
#   2. that commit is tagged vX.Y.Z (the root module) and
#      <dir>/vX.Y.Z for each nested module (Go's tag form for a module in
#      a subdirectory).
#
# The nested modules keep their `replace github.com/scalekit-go/scalekit =>
# ../..`: a replace applies only in the main module, so users who
# `go get .../lock/etcdlock@vX.Y.Z` resolve the root at vX.Y.Z from the
# require, while builds inside this tree keep using the working copy.
#
# Nothing is pushed; the script prints the push command. Run it from a
# clean checkout of the commit to release. -n shows what it would do.
#
# internal/release's test runs this script on a copy of the tree and
# proves, with a file-based GOPROXY, that a fresh module can `go get` and
# build against the root and a nested module at the new tag.
set -euo pipefail

dry=0
if [[ "${1:-}" == "-n" ]]; then dry=1; shift; fi
version="${1:-}"
if [[ ! "$version" =~ ^v(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z.-]+)?$ ]]; then
	echo "usage: $0 [-n] vX.Y.Z" >&2
	exit 2
fi
major="${BASH_REMATCH[1]}"
if (( major >= 2 )); then
	echo "release.sh: $version needs a /v$major module path; not supported" >&2
	exit 2
fi
GO="${GO:-go}"
root="$(git rev-parse --show-toplevel)"
cd "$root"
run() { if (( dry )); then echo "+ $*"; else "$@"; fi; }

if [[ -n "$(git status --porcelain)" ]]; then
	echo "release.sh: the working tree is not clean" >&2
	exit 1
fi
if git rev-parse -q --verify "refs/tags/$version" >/dev/null; then
	echo "release.sh: tag $version exists" >&2
	exit 1
fi

root_path="$(GOWORK=off "$GO" mod edit -json | sed -n 's/^\t\t"Path": "\(.*\)"$/\1/p' | head -1)"
# Nested modules: every go.mod but the root's (testdata excluded).
mapfile -t dirs < <(find . -name go.mod -not -path './go.mod' -not -path './.git/*' -not -path '*/testdata/*' \
	-exec dirname {} \; | sed 's|^\./||' | sort)
declare -A paths=(["$root_path"]=.)
for d in "${dirs[@]}"; do
	p="$(cd "$d" && GOWORK=off "$GO" mod edit -json | sed -n 's/^\t\t"Path": "\(.*\)"$/\1/p' | head -1)"
	paths["$p"]="$d"
	if git rev-parse -q --verify "refs/tags/$d/$version" >/dev/null; then
		echo "release.sh: tag $d/$version exists" >&2
		exit 1
	fi
done

for d in "${dirs[@]}"; do
	# Requires of in-tree modules (the root, or another nested module).
	mapfile -t direct < <(cd "$d" && GOWORK=off "$GO" mod edit -json | awk '/"Require"/,/]/' | sed -n 's/^\t\t\t"Path": "\(.*\)",\{0,1\}$/\1/p')
	for p in "${direct[@]}"; do
		if [[ -n "${paths[$p]:-}" ]]; then
			run bash -c "cd '$d' && GOWORK=off '$GO' mod edit -require='$p@$version'"
		fi
	done
done

if (( ! dry )) && [[ -n "$(git status --porcelain)" ]]; then
	git add -A
	git commit -q -m "release $version: nested modules require $root_path $version"
fi
run git tag -a "$version" -m "$root_path $version"
tags=("$version")
for d in "${dirs[@]}"; do
	run git tag -a "$d/$version" -m "${d} $version"
	tags+=("$d/$version")
done
echo "tagged ${tags[*]} at $(git rev-parse --short HEAD)"
echo "publish with: git push origin HEAD ${tags[*]}"
