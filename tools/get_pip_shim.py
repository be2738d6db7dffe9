"""Stand-in for pip's get-pip.py, which ansible-test downloads from a host that the
build machines cannot reach. ansible-test runs it inside each fresh sanity venv as
``python get_pip.py <pip install options and packages>``: bootstrap pip from the
interpreter's own ensurepip, then let that pip install what was asked (from PyPI)."""
import runpy
import subprocess
import sys

subprocess.check_call([sys.executable, "-m", "ensurepip", "--default-pip"],
                      stdout=subprocess.DEVNULL)
sys.argv = ["pip", "install"] + [arg for arg in sys.argv[1:]
                                 if arg not in ("--no-setuptools", "--no-wheel")]
runpy.run_module("pip", run_name="__main__", alter_sys=True)
