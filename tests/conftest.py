"""Session-wide test settings."""

import os
import tempfile

import torch

# Saved episode lists go to a temporary folder, never into the repository's splits/ (notebook kernels
# started by the tests inherit the variable).
os.environ.setdefault("MUMAE_EPISODES_DIR", tempfile.mkdtemp(prefix="mumae-episodes-"))
# Tiny test tensors gain nothing from threads; one thread avoids oversubscribing the 2-core CI machine.
torch.set_num_threads(1)
