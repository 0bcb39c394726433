"""Suite-wide settings."""

import torch

# The test models are tiny: one intra-op thread is faster for them than two, and keeps the suite from
# thrashing on a shared 2-core machine. Subprocess tests (CLI, torchrun) use torch's own default.
torch.set_num_threads(1)
