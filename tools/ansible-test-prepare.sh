#!/usr/bin/env bash
# Put tools/get_pip_shim.py where ansible-test looks for its cached pip bootstrap
# script, for the pip version this ansible-test asks for.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
version=$(python - <<'PY'
import re, ansible_test, os
path = os.path.join(os.path.dirname(ansible_test.__file__), "_internal", "python_requirements.py")
print(re.search(r"pip='([0-9.]+)'", open(path).read()).group(1))
PY
)
cache=~/.ansible/test/cache
mkdir -p "$cache"
cp "$here/get_pip_shim.py" "$cache/get_pip_${version//./_}.py"
