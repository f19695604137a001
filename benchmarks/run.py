"""Run every benchmark script in turn: ``python benchmarks/run.py [--quick] [--out DIR]``.

Arguments pass through to each script; scripts not present are skipped.
"""

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPTS = ["quality", "denoising", "fashion", "speed", "outlier", "fuzz", "pretraining",
           "distributed", "onnx_speed", "gpu"]

failed = []
for name in SCRIPTS:
    script = HERE / f"{name}.py"
    if not script.is_file():
        print(f"=== {name}: not present, skipped", flush=True)
        continue
    print(f"=== {name}", flush=True)
    if subprocess.call([sys.executable, str(script), *sys.argv[1:]]) != 0:
        failed.append(name)
sys.exit(f"failed: {', '.join(failed)}" if failed else 0)
