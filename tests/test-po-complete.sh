#!/usr/bin/env bash
# tests/test-po-complete.sh SRCROOT: every translation in po/LINGUAS is valid
# and complete: each string the sources mark for translation today (extracted
# afresh with xgettext from po/POTFILES.in) has a translation. TAP output.
set -uo pipefail
root=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$root" || exit 1
if ! xgettext --from-code=UTF-8 --keyword=_ --keyword=N_ --keyword=C_:1c,2 --keyword=NC_:1c,2 \
     --keyword=g_dngettext:2,3 -f po/POTFILES.in -o "$tmp/hark.pot" 2> "$tmp/xgettext.err"; then
  echo "1..1"
  echo "not ok 1 - xgettext failed: $(head -3 "$tmp/xgettext.err" | tr '\n' ' ')"
  exit 1
fi
langs=$(grep -v '^#' po/LINGUAS | grep -v '^$')
n=$(echo "$langs" | wc -w)
echo "1..$((2 * n))"
i=0
fail=0
for l in $langs; do
  i=$((i + 1))
  if msgfmt --check -o /dev/null "po/$l.po" 2> "$tmp/msgfmt.err"; then
    echo "ok $i - po/$l.po compiles (msgfmt --check)"
  else
    echo "not ok $i - po/$l.po: $(head -3 "$tmp/msgfmt.err" | tr '\n' ' ')"
    fail=1
  fi
  i=$((i + 1))
  # msgcmp: every msgid of the fresh template is in the translation, translated.
  if msgcmp "po/$l.po" "$tmp/hark.pot" > "$tmp/msgcmp.out" 2>&1 &&
     [ "$(msgattrib --untranslated --no-obsolete "po/$l.po" | grep -c '^msgid ')" -le 1 ]; then
    echo "ok $i - po/$l.po translates every string the sources mark"
  else
    echo "not ok $i - po/$l.po is missing translations:"
    sed 's/^/# /' "$tmp/msgcmp.out" | head -20
    msgattrib --untranslated --no-obsolete "po/$l.po" | grep '^msgid ' | tail -n +2 | sed 's/^/# untranslated: /' | head -20
    fail=1
  fi
done
exit $fail
