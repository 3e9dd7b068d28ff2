#!/bin/sh
# Runs a Python test with Debian's /usr/bin/python3 (the one with python3-matplotlib, whatever
# python3 comes first on PATH); exits 77, which CTest reports as skipped, when it or matplotlib
# is missing.
if [ ! -x /usr/bin/python3 ]; then
  echo "skipped: no /usr/bin/python3"
  exit 77
fi
if ! /usr/bin/python3 -c "import matplotlib" 2>/dev/null; then
  echo "skipped: /usr/bin/python3 has no matplotlib (Debian: apt-get install python3-matplotlib)"
  exit 77
fi
exec /usr/bin/python3 "$@"
