"""The course never reaches out: its data and models load with the network cut (Linux `unshare -n`)."""

from __future__ import annotations

import os
import shutil
import socket
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
try:  # the opt-in online path (COURSE_IMAGENET=1), exactly as notebook 08 calls it, up to the download
    models.resnet18_for_glyphs(10, weights="IMAGENET1K_V1")
except RuntimeError as err:
    print(err)
else:
    raise AssertionError("the ImageNet weights loaded with the network cut")
net = models.resnet18_for_glyphs(10, weights=None, seed=0)  # the offline default: random weights
assert net(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
print("offline ok")
"""


def _can_cut_network() -> bool:
    if not shutil.which("unshare"):
        return False
    return subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode == 0


@pytest.mark.skipif(not _can_cut_network(), reason="needs Linux `unshare -n` (root or user namespaces)")
def test_course_data_and_models_load_without_network(tmp_path):
    env = {
        "COURSE_CACHE_DIR": str(tmp_path / "cache"),
        "TORCH_HOME": str(tmp_path / "torch"),
        "HOME": str(tmp_path),
        "PATH": "/usr/bin:/bin",
    }
    result = subprocess.run(
        ["unshare", "-n", sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=300
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "offline ok" in result.stdout
    assert "Could not get the ImageNet weights" in result.stdout  # a clear message, not random weights in disguise
    assert "unset COURSE_IMAGENET" in result.stdout


# Every default path of the course, watched by an audit hook that records any attempt to reach another host.
AUDIT_SCRIPT = """
import sys

reached = []


def _local(host) -> bool:
    return host is None or (isinstance(host, str) and (host in ("localhost", "::1", "") or host.startswith("127.")))


def hook(event, args):
    if event == "socket.connect" and isinstance(args[1], tuple) and not _local(args[1][0]):
        reached.append(f"connect {args[1]!r}")
    elif event == "socket.getaddrinfo" and not _local(args[0]):
        reached.append(f"resolve {args[0]!r}")
    elif event == "urllib.Request":
        reached.append(f"urllib {args[0]!r}")


sys.addaudithook(hook)

import importlib
import pkgutil

import torch

import course_utils
from course_utils import (checkpoints, digits, fewshot, glyphs, models, pretrain_ssl, progress, quiz, quiz_widget,
                          texts, training)

for module in pkgutil.walk_packages(course_utils.__path__, "course_utils."):
    importlib.import_module(module.name)
letters = glyphs.background_alphabets()
novel = glyphs.evaluation_alphabets()
hand = digits.handwritten_digits("wild")
net = checkpoints.load_glyphnet()
for method in pretrain_ssl.METHODS:
    pretrain_ssl.load_pretrained(method)
training.fit(models.new_head(net, 10), (hand.X_train[:64], hand.y_train[:64]), steps=2, progress=False)
models.resnet18_for_glyphs(10)  # default: no weights, no download
fewshot.evaluate_episodes(net.features, novel, way=5, shot=1, episodes=2)
corpus = texts.load_corpus()
assert texts.embed(corpus.texts[:3], progress=False).shape == (3, 384)  # MiniLM from the installed package
for n in progress.NOTEBOOKS:
    bank = quiz.load_bank(quiz.bank_path(n))
    q = bank.questions[0]
    right = {"single": min(q.correct), "multiple": sorted(q.correct)}.get(q.type, q.answer)
    assert quiz_widget.QuizWidget(bank).answer(0, right)  # records an attempt in the progress file
print("reached:", reached)
assert not reached, reached
print("no connection")
"""


def test_no_default_path_of_the_course_reaches_the_network(tmp_path):
    """Imports every module and walks the default paths (data, checkpoint, training, episodes, MiniLM, quizzes,
    progress) under an audit hook: not one connection or name lookup beyond this machine."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "TRANSFORMERS_"))}
    env.update({"COURSE_PROGRESS_FILE": str(tmp_path / "progress.json"), "COURSE_CACHE_DIR": str(tmp_path / "cache")})
    result = subprocess.run([sys.executable, "-c", AUDIT_SCRIPT], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    assert "no connection" in result.stdout


@pytest.mark.skipif(os.environ.get("COURSE_NETWORK_CUT") != "1", reason="only under tests/offline.sh (make test)")
def test_the_suite_runs_with_the_network_cut():
    """`make test` runs the whole suite, notebooks included, through tests/offline.sh: prove the cut is real."""
    with pytest.raises(OSError):
        socket.create_connection(("10.255.255.1", 80), timeout=3)
    with pytest.raises(OSError):
        socket.getaddrinfo("pypi.org", 443)
