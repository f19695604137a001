"""The training engine loads only to fit: not on import, not for inference."""

import subprocess
import sys


def test_import_and_inference_do_not_load_the_training_engine():
    code = (
        "import sys, numpy as np, skae\n"
        "assert 'skae._training' not in sys.modules\n"
        "X = np.random.default_rng(0).normal(size=(40, 4))\n"
        "model = skae.AutoencoderTransformer(2, hidden_layer_sizes=(4,), random_state=0).fit(X)\n"
        "skae.save(model, 'model.safetensors')\n"
        "assert 'skae._training' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=_tmp())
    inference = (
        "import sys, numpy as np, skae\n"
        "model = skae.load('model.safetensors')\n"
        "model.transform(np.zeros((3, 4)))\n"
        "assert 'skae._training' not in sys.modules, 'inference imported the engine'\n"
    )
    subprocess.run([sys.executable, "-c", inference], check=True, cwd=_tmp())


_DIR = []


def _tmp():
    import tempfile

    if not _DIR:
        _DIR.append(tempfile.mkdtemp())
    return _DIR[0]
