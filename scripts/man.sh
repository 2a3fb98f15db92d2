#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# The man page docs/kaio.7, generated from docs/kaio.7.md by Debian's pandoc
# and committed, so that `man ./docs/kaio.7` works without pandoc.
#   scripts/man.sh            regenerate docs/kaio.7 (make man)
#   scripts/man.sh --stdout   print what docs/kaio.7 should hold
# Markdown level-2 headings become man sections (.SH, in capitals), level 3
# subsections; ".ad l" sets the text ragged right, as tables of long names
# cannot be justified without warnings; table columns keep pandoc's
# proportions (from the dashes of the Markdown's separator line) but are
# scaled so that a table and its gaps fit an 80-column terminal.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
gen() {
	pandoc --standalone --from markdown-smart --to man --shift-heading-level-by=-1 \
		--metadata title=KAIO --metadata section=7 \
		--metadata footer="kaio ABI 2" --metadata header="kaio" \
		docs/kaio.7.md |
		sed -e 's/^\.TH .*/.TH KAIO 7 "" "kaio ABI 2" "Linux kaio module"\n.ad l/' \
			-e '/^\.SH [^\\]*$/{s/^\.SH //;s/.*/.SH \U&/}' |
		perl -pe 'if (/^lw\(/) { my @w = /lw\(([\d.]+)n\)/g; my $t = 0; $t += $_ for @w;
			my $k = (68 - 3 * (@w - 1)) / $t; s/lw\(([\d.]+)n\)/sprintf("lw(%.1fn)", $1 * $k)/ge }'
}
command -v pandoc >/dev/null || { echo "man.sh: pandoc is missing (scripts/setup-toolchain.sh installs it)" >&2; exit 1; }
if [ "${1:-}" = --stdout ]; then
	gen
else
	gen > docs/kaio.7.tmp
	mv docs/kaio.7.tmp docs/kaio.7
fi
