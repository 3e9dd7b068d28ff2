#!/bin/sh
# run_with_python.sh MODULE[,MODULE...] SCRIPT [ARGS...]
# Runs a Python test with Debian's /usr/bin/python3 (the one Debian's python3-* packages install
# into, whatever python3 comes first on PATH); exits 77, which CTest reports as skipped, when it
# or one of the modules is missing.
modules=$1
shift
if [ ! -x /usr/bin/python3 ]; then
  echo "skipped: no /usr/bin/python3"
  exit 77
fi
if ! /usr/bin/python3 -c "import $modules" 2>/dev/null; then
  echo "skipped: /usr/bin/python3 cannot import $modules (Debian: python3-<module>)"
  exit 77
fi
exec /usr/bin/python3 "$@"
