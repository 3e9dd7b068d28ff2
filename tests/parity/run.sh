#!/bin/sh
# Runs tests/parity/pytorch_parity.py with Debian's /usr/bin/python3 (the one python3-torch
# installs into, whatever python3 comes first on PATH); exits 77, which CTest reports as
# skipped, when it or PyTorch is missing.
if [ ! -x /usr/bin/python3 ]; then
  echo "skipped: no /usr/bin/python3"
  exit 77
fi
if ! /usr/bin/python3 -c "import torch, numpy" 2>/dev/null; then
  echo "skipped: /usr/bin/python3 has no PyTorch (Debian: apt-get install python3-torch)"
  exit 77
fi
exec /usr/bin/python3 "$(dirname "$0")/pytorch_parity.py" "$@"
