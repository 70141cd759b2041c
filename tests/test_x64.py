"""float64 is enabled at entry points only; builders refuse 32-bit mode with the fix."""

import subprocess
import sys


def test_import_leaves_jax_config_alone_and_builders_require_x64(data_dir):
    code = (
        "import jax, cevns_jax\n"
        "assert not jax.config.jax_enable_x64\n"
        "try:\n"
        f"    cevns_jax.build_lar2020({str(data_dir)!r})\n"
        "except RuntimeError as e:\n"
        "    assert 'enable_x64' in str(e); print('refused')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "refused"
