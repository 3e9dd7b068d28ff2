#!/bin/sh
# The PyTorch parity check (pytorch_parity.py), with Debian's python3-torch; skipped (77) without.
here=$(dirname "$0")
exec sh "$here/../run_with_python.sh" torch,numpy "$here/pytorch_parity.py" "$@"
