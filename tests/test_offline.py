"""The course never reaches out: its data and models load with the network cut (Linux `unshare -n`)."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

SCRIPT = """
import torch
from course_utils import checkpoints, digits, glyphs, models
corpus = glyphs.load_corpus()                      # rendered from the installed fonts, into an empty cache
assert corpus.num_classes > 1000
assert len(digits.handwritten_digits("wild").y_test) == 719   # scikit-learn ships the digits
net = checkpoints.load_glyphnet()                  # shipped in data/
net = models.resnet18_for_glyphs(10, weights="IMAGENET1K_V1")  # the opt-in online path must not block
assert net(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
print("offline ok")
"""


def _can_cut_network() -> bool:
    if not shutil.which("unshare"):
        return False
    return subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode == 0


@pytest.mark.skipif(not _can_cut_network(), reason="needs Linux `unshare -n` (root or user namespaces)")
def test_course_data_and_models_load_without_network(tmp_path):
    env = {"COURSE_CACHE_DIR": str(tmp_path / "cache"), "TORCH_HOME": str(tmp_path / "torch"),
           "HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    result = subprocess.run(["unshare", "-n", sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                            env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "offline ok" in result.stdout
    assert "Could not get the ImageNet weights" in result.stdout  # a clear message, then random weights
