#!/usr/bin/env bash
# Create one virtual environment per peer simulator under benchmarks/peers/.venvs/
# (git-ignored), so none of their dependencies leak into snnlab's own venv.
#
#   bash benchmarks/peers/setup_venvs.sh [bindsnet] [brian2] [nest]   (default: all three)
#
# BindsNET 0.3.4 needs torch >= 2.14 (a CUDA build of several GB on x86_64);
# Brian2 2.9 is the newest release for Python 3.11 and needs numpy < 2.4;
# NEST 3.10 comes as the `nest-simulator` wheel. Each venv is checked by
# importing the simulator; a venv that already imports is left alone.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENVS="$HERE/.venvs"
PY="${PYTHON:-python3.11}"
mkdir -p "$VENVS"

make_venv() {  # name, import check, pip args...
    local name="$1" check="$2"; shift 2
    local vpy="$VENVS/$name/bin/python"
    if [ -x "$vpy" ] && "$vpy" -c "$check" >/dev/null 2>&1; then
        echo "[$name] ready: $("$vpy" -c "$check")"
        return 0
    fi
    echo "[$name] creating $VENVS/$name"
    "$PY" -m venv "$VENVS/$name"
    "$vpy" -m pip install --quiet --upgrade pip wheel
    "$vpy" -m pip install "$@"
    echo "[$name] ready: $("$vpy" -c "$check")"
}

want="${*:-bindsnet brian2 nest}"
for w in $want; do
    case "$w" in
        bindsnet)
            # torch first, pinned, so BindsNET's own torch>=2.14 requirement is
            # met by the release on local disk instead of a newer download.
            make_venv bindsnet "import bindsnet, torch; print('bindsnet', bindsnet.__version__ if hasattr(bindsnet, '__version__') else '0.3.4', 'torch', torch.__version__)" \
                torch==2.14.1 bindsnet==0.3.4 psutil ;;
        brian2)
            make_venv brian2 "import brian2, numpy, Cython; print('brian2', brian2.__version__, 'numpy', numpy.__version__, 'cython', Cython.__version__)" \
                "brian2==2.9.*" "numpy<2.4" Cython psutil ;;
        nest)
            make_venv nest "import nest, numpy; print('nest', nest.__version__, 'numpy', numpy.__version__)" \
                "nest-simulator==3.10.*" numpy psutil ;;
        *) echo "unknown peer: $w (expected bindsnet, brian2, nest)" >&2; exit 2 ;;
    esac
done
