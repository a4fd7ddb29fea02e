#!/usr/bin/env bash
# Download, here (with PyPI), the wheels the GPU machine needs to import BindsNET
# 0.3.4, for its Python 3.12 on x86_64, into .whl/ at the repository root.
# The GPU image already has torch, torchvision, numpy, scipy, matplotlib, pandas,
# scikit-learn, scikit-image, opencv-python-headless, tqdm, protobuf, cloudpickle;
# BindsNET's top-level import also pulls in gymnasium, ale_py and tensorboardX.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
PLAT=(--platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64
      --platform manylinux2014_x86_64 --platform manylinux1_x86_64)
for spec in bindsnet==0.3.4 "gymnasium==1.*" farama-notifications "ale-py==0.*" "tensorboardX==2.6.*"; do
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        "${PLAT[@]}" -d .whl "$spec"
done
ls -la .whl
du -sh .whl
