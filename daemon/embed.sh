#!/bin/sh
# embed.sh FILE NAME: print FILE as a C string constant called NAME.
set -e
printf '/* Generated from %s by embed.sh: do not edit. */\n' "$(basename "$1")"
printf 'const char %s[] =\n' "$2"
sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/"/' -e 's/$/\\n"/' "$1"
printf ';\n'
