"""PyYAML for the ops tests: ctest's Python (a pyenv one, say) may lack it where Debian's
python3-yaml has it; then the test re-runs itself under /usr/bin/python3. Import this first."""
import os
import sys

try:
    import yaml  # noqa: F401
except ImportError:
    if sys.executable != "/usr/bin/python3" and os.path.exists("/usr/bin/python3"):
        os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
    raise
