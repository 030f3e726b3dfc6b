"""Run every benchmark script in this folder, one after another (``make bench``)."""
import subprocess
import sys
from pathlib import Path

here = Path(__file__).resolve().parent
failed = []
for script in sorted(here.glob("*.py")):
    if script.name == Path(__file__).name:
        continue
    print(f"== {script.name}", flush=True)
    if subprocess.run([sys.executable, str(script)]).returncode != 0:
        failed.append(script.name)
print("failed: " + ", ".join(failed) if failed else "all benchmarks ran")
sys.exit(1 if failed else 0)
