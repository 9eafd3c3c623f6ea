"""SynthAct calibration on VALIDATION episodes (issue 11): `mumae_core.calibration.calibrate`, printed.

The non-learned baselines under the one-shot protocol (the same episode sampler, head and z-scoring as 02),
on validation-class episodes, with the three targets of docs/synthact.md. The tour (00) runs the same check
(`report.check_episodes`, 300 by default).

python benchmarks/synthact_calibration.py [episodes=300] [synth_size=default]

Test episodes are never drawn. Run it alone (it decodes the train and validation clips: ~1 min on 2 cores).
"""

import json
import os
import sys
import time

from mumae_core.calibration import calibrate
from mumae_core.config import get_config

n_eps = int(sys.argv[1]) if len(sys.argv) > 1 else 300
size = sys.argv[2] if len(sys.argv) > 2 else "default"
t0 = time.time()
cal = calibrate(get_config("default", [f"data.synth_size={size}"]).validate(), n_eps)
print(f"SynthAct {size}, {n_eps} validation episodes ({cal.way}-way 1-shot, classes {cal.classes}), "
      f"chance {100 / cal.way:.0f}%")  # fmt: skip
for n, (a, ci) in cal.rows.items():
    print(f"  {n:<55} {a:5.1f} ± {ci:.1f}")
print(f"  {cal.combined} vs the statistics alone: paired difference {cal.gain[0]:+.1f} ± {cal.gain[1]:.1f}")
for c, ok in cal.checks.items():
    print(f"  [{'pass' if ok else 'FAIL'}] {c}")
out = {"rows": cal.rows, "gain": cal.gain, "checks": cal.checks, "seconds": round(time.time() - t0)}
print(json.dumps({**out, "load": os.getloadavg()[0]}))
