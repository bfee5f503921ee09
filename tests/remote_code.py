"""Run a script in a fresh Python process where `tlm_hf` cannot be imported, as on a machine without the package.

Saved folders must load through `trust_remote_code=True` from their copied model files alone.
"""

import os
import subprocess
import sys
import textwrap

REFUSE_TLM_HF = textwrap.dedent(
    """
    import sys

    class RefuseTlmHf:  # make `import tlm_hf` fail, as on a machine without the package
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] == "tlm_hf":
                raise ImportError("tlm_hf is not installed here")

    sys.meta_path.insert(0, RefuseTlmHf())
    """
)


def run_without_tlm_hf(script: str, *args, tmp_path) -> subprocess.CompletedProcess:
    """Run `script` (after the import guard) with `args` in sys.argv; offline, with its own modules cache."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_MODULES_CACHE": str(tmp_path / "modules")}
    return subprocess.run(
        [sys.executable, "-c", REFUSE_TLM_HF + textwrap.dedent(script), *map(str, args)],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300,
    )
