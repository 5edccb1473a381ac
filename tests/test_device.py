"""The device is explicit: the CPU unless ``COURSE_DEVICE`` opts in, and every helper computes where the model is.

There is no GPU here, so PyTorch's ``meta`` device stands in for one. A meta tensor has a shape and a device but
no values: code that keeps everything on the model's device runs (or stops at the first value it must read, with
meta's own "no data" kind of error), while code that mixes the model's device with the CPU fails with a
device-mismatch error. Meta lets a few mixed operations through (a convolution, a matrix product), so `OneDevice`
refuses them the way CUDA and MPS do. Each helper runs on a meta model and on a CPU model; neither may be moved.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable

import pytest
import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from course_utils import adaptation, fewshot, meta_learning, models, paths, pretext, training
from course_utils import text_finetune as tft
from course_utils.learning_rates import lr_find
from course_utils.settings import SettingError, course_device

META = torch.device("meta")
NO_DATA = re.compile(r"meta tensor|meta device|data-independent|Cannot copy out")  # meta: nothing to read
MIXED = re.compile(r"expected device|same device|two devices|different devices|should be either on")
SMALL = (4, 8, 8, 8)
aten = torch.ops.aten
MOVES = {aten._to_copy, aten.copy_, aten.index, aten.index_put_, aten._index_put_impl_}  # may take two devices


class OneDevice(TorchDispatchMode):
    """Refuses an operation on tensors of two devices, as CUDA and MPS do (a CPU number is fine, as there)."""

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func.overloadpacket not in MOVES:
            tensors = [t for t in tree_flatten((args, kwargs))[0] if isinstance(t, torch.Tensor)]
            devices = {t.device for t in tensors if not (t.dim() == 0 and t.device.type == "cpu")}
            if len(devices) > 1:
                raise RuntimeError(f"Expected all tensors to be on the same device: {sorted(map(str, devices))}")
        return func(*args, **kwargs)


def tiny_net(device: str = "cpu", num_classes: int = 3) -> models.GlyphNet:
    return models.GlyphNet(num_classes, widths=SMALL, seed=0).to(device)


def images(n: int = 12, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, 28, 28, generator=g), torch.arange(n) % 3


def run_where_it_is(monkeypatch, call: Callable[[], object], *caller_models: nn.Module):
    """`call()` must not move the caller's models, and must not mix devices. On a meta model it may stop at
    the first value it has to read; then it returns None."""
    mine = {id(m) for model in caller_models for m in model.modules()}
    before = [(p.device, p.data_ptr()) for model in caller_models for p in model.parameters()]
    moved, apply = [], nn.Module._apply

    def spy(self, fn, *args, **kwargs):  # every .to(), .cpu(), .cuda() of a module goes through _apply
        if id(self) in mine:
            moved.append(type(self).__name__)
        return apply(self, fn, *args, **kwargs)

    monkeypatch.setattr(nn.Module, "_apply", spy)
    result = None
    try:
        with OneDevice():
            result = call()
    except (RuntimeError, NotImplementedError, TypeError) as err:
        message = str(err)
        assert not MIXED.search(message), f"mixed devices: {message}"
        assert NO_DATA.search(message), f"not meta's 'no data' error: {message}"
        assert any(p.device == META for model in caller_models for p in model.parameters()), message
    finally:
        monkeypatch.setattr(nn.Module, "_apply", apply)
    assert not moved, f"the helper moved the caller's model ({moved})"
    after = [(p.device, p.data_ptr()) for model in caller_models for p in model.parameters()]
    assert [d for d, _ in after] == [d for d, _ in before]
    cpu = [(a, b) for a, b in zip(before, after, strict=True) if a[0].type == "cpu"]
    assert all(a[1] == b[1] for a, b in cpu), "a CPU model's weights were replaced"
    return result


def test_one_device_refuses_what_meta_lets_through():
    conv, x = nn.Conv2d(1, 2, 3).to(META), torch.rand(1, 1, 5, 5)
    conv(x)  # meta alone does not notice the CPU input
    with OneDevice(), pytest.raises(RuntimeError, match=MIXED):
        conv(x)
    with OneDevice():
        assert conv(x.to(META)).device == META and (x * torch.tensor(2.0)).device.type == "cpu"


# --- COURSE_DEVICE -------------------------------------------------------------------------------------


@pytest.fixture
def every_gpu(monkeypatch):
    """A machine that has both kinds of GPU, as far as PyTorch can tell."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)


@pytest.fixture
def no_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)


def test_the_cpu_is_the_default_even_with_a_gpu(monkeypatch, every_gpu):
    monkeypatch.delenv("COURSE_DEVICE", raising=False)
    assert course_device() == torch.device("cpu")


@pytest.mark.parametrize(("raw", "device"), [("cpu", "cpu"), (" CPU ", "cpu"), ("cuda", "cuda"), ("mps", "mps")])
def test_course_device_opts_in(monkeypatch, every_gpu, raw, device):
    monkeypatch.setenv("COURSE_DEVICE", raw)
    assert course_device() == torch.device(device)


@pytest.mark.parametrize(("raw", "words"), [("cuda", "no CUDA GPU"), ("mps", "no Apple GPU (MPS)")])
def test_asking_for_a_missing_gpu_says_so(monkeypatch, no_gpu, raw, words):
    monkeypatch.setenv("COURSE_DEVICE", raw)
    with pytest.raises(SettingError) as err:
        course_device()
    message = str(err.value)
    assert "COURSE_DEVICE" in message and words in message and "Unset COURSE_DEVICE" in message
    assert "\n" not in message
    monkeypatch.setenv("COURSE_DEVICE", "cpu")
    assert course_device() == torch.device("cpu")


@pytest.mark.parametrize("raw", ["gpu", "", "cuda:0", "tpu", "0"])
def test_a_bad_device_names_the_variable_and_the_choices(monkeypatch, every_gpu, raw):
    monkeypatch.setenv("COURSE_DEVICE", raw)
    with pytest.raises(SettingError) as err:
        course_device()
    message = str(err.value)
    assert "COURSE_DEVICE" in message and "cpu, cuda, mps" in message and repr(raw) in message
    assert "\n" not in message


def test_reading_the_settings_does_not_import_torch():  # the quiz and the progress files stay light
    import subprocess
    import sys

    code = "import sys, course_utils.settings; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], cwd=paths.REPO_DIR).returncode == 0


def test_training_chooses_no_device_of_its_own():
    assert not hasattr(training, "DEVICE") and not hasattr(training, "get_device")


def test_every_notebook_sets_its_device_in_the_parameters_cell():
    for path in sorted((paths.REPO_DIR / "notebooks").glob("*.ipynb")):
        code = [c for c in json.loads(path.read_text(encoding="utf-8"))["cells"] if c["cell_type"] == "code"]
        params = [c for c in code if "parameters" in c.get("metadata", {}).get("tags", [])]
        assert "from course_utils.settings import course_device, course_seed" in "".join(code[0]["source"])
        assert "DEVICE = course_device()" in "".join(params[0]["source"]), path.name


# --- where a model computes ----------------------------------------------------------------------------


def test_device_of_a_model():
    assert models.device_of(tiny_net("meta")) == META
    assert models.device_of(tiny_net()) == torch.device("cpu")
    assert models.device_of(nn.Identity()) == torch.device("cpu")  # nothing to go by
    only_buffers = nn.Module()
    only_buffers.register_buffer("scale", torch.ones(1, device="meta"))
    assert models.device_of(only_buffers) == META


def test_a_new_head_joins_the_model_and_is_the_same_on_every_device():
    on_meta, on_cpu = models.new_head(tiny_net("meta"), 5, seed=3), models.new_head(tiny_net(), 5, seed=3)
    assert on_meta.head.weight.device == META and on_meta.head.out_features == 5
    with models.seeded(3):
        assert torch.equal(on_cpu.head.weight, nn.Linear(8, 5).weight)


# --- training, evaluation, features, the LR range test, AdaBN ------------------------------------------


@pytest.mark.parametrize("device", ["cpu", "meta"])
def test_fit_trains_where_the_model_is(monkeypatch, device):
    net, (X, y) = tiny_net(device), images()
    run_where_it_is(monkeypatch, lambda: training.fit(net, (X, y), steps=2, batch_size=4, progress=False), net)

    def batches(g):  # a drawn batch and an augmentation that both use the (CPU) generator
        rows = torch.randint(len(X), (4,), generator=g)
        return X[rows], y[rows]

    def shift(x, g):
        return x.roll(int(torch.randint(3, (), generator=g)), dims=-1)

    history = run_where_it_is(
        monkeypatch,
        lambda: training.fit(net, batches, steps=2, transform=shift, eval_data=(X, y), eval_every=1, progress=False),
        net,
    )
    if device == "cpu":
        assert len(history.loss) == 2 and len(history.eval_acc) == 2


@pytest.mark.parametrize("device", ["cpu", "meta"])
def test_predictions_and_features_come_back_on_the_cpu(monkeypatch, device):
    net, (X, y) = tiny_net(device), images()
    logits = run_where_it_is(monkeypatch, lambda: training.predict(net, X, batch_size=5), net)
    run_where_it_is(monkeypatch, lambda: training.evaluate(net, X, y), net)
    features = run_where_it_is(monkeypatch, lambda: training.extract_features(net, X, cache=False), net)
    if device == "cpu":
        assert logits.device.type == "cpu" and logits.shape == (12, 3) and features.shape == (12, 8)
        cached = run_where_it_is(monkeypatch, lambda: training.extract_features(net, X), net)
        assert torch.equal(cached, features) and training.extract_features(net, X) is cached


def test_the_feature_cache_key_includes_the_device(monkeypatch):
    net, (X, _) = tiny_net(), images()
    on_cpu = training._fingerprint(net, X)
    monkeypatch.setattr(training, "device_of", lambda model: torch.device("cuda"))
    assert training._fingerprint(net, X) != on_cpu  # the same weights on a GPU: features of their own


@pytest.mark.parametrize("device", ["cpu", "meta"])
def test_lr_find_runs_its_copy_where_the_model_is(monkeypatch, device):
    net, (X, y) = tiny_net(device), images()
    found = run_where_it_is(monkeypatch, lambda: lr_find(net, (X, y), steps=5, batch_size=4, progress=False), net)
    if device == "cpu":
        assert len(found.lrs) >= 2


@pytest.mark.parametrize("device", ["cpu", "meta"])
def test_adabn_adapts_a_copy_on_the_model_device(monkeypatch, device):
    net, (X, _) = tiny_net(device), images()
    adapted = run_where_it_is(monkeypatch, lambda: adaptation.adabn(net, X, batch_size=5), net)
    if device == "cpu":  # on meta it stops at BatchNorm's batch count, a value to read
        assert adapted is not net and models.device_of(adapted) == torch.device("cpu")


# --- few-shot learning ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def novel():
    from course_utils import glyphs

    return glyphs.evaluation_alphabets()


def test_an_episode_moves_its_images_and_labels_but_keeps_its_pool_rows():
    X, y = images(30)
    ep = fewshot.sample_image_episode(X, y, way=3, shot=2, queries=2, generator=torch.Generator().manual_seed(0))
    moved = ep.to(META)
    assert {t.device for t in (moved.support_x, moved.support_y, moved.query_x, moved.query_y)} == {META}
    assert moved.support_idx is ep.support_idx and moved.classes == ep.classes and moved.shot == 2


@pytest.mark.parametrize("device", ["cpu", "meta"])
def test_episodes_are_embedded_and_scored_where_the_network_is(monkeypatch, device):
    net, (X, y) = tiny_net(device), images(30)
    eps = fewshot.sample_episodes((X, y), way=3, shot=2, count=2, queries=2)
    embedded = run_where_it_is(monkeypatch, lambda: fewshot.embed_episodes(net.features, eps, device=device), net)
    pooled = run_where_it_is(monkeypatch, lambda: fewshot.embed_pool(net.features, eps, X, device=device), net)
    for classify in (fewshot.nearest_prototype, meta_learning.matching_classify):
        run_where_it_is(monkeypatch, lambda c=classify: fewshot.score(eps, embedded, c), net)
    result = run_where_it_is(
        monkeypatch, lambda: fewshot.evaluate_episodes(net.features, (X, y), 3, 2, 2, 2, device=device), net
    )
    assert all(s.device == torch.device(device) for pair in embedded + pooled for s in pair)
    if device == "cpu":
        assert 0 <= result.mean <= 1


@pytest.mark.parametrize("device", ["cpu", "meta"])
def test_episodic_training_moves_each_episode_to_the_network(monkeypatch, device, novel):
    net = tiny_net(device)
    for method in ("prototypical", "matching"):
        losses = run_where_it_is(
            monkeypatch,
            lambda m=method: meta_learning.train_episodic(net, novel, 1, m, way=3, shot=1, queries=1, progress=False),
            net,
        )
        if device == "cpu":
            assert len(losses) == 1


def test_the_few_shot_losses_run_on_one_device():
    g = torch.Generator().manual_seed(0)
    s, q = torch.randn(6, 4, generator=g).to(META), torch.randn(3, 4, generator=g).to(META)
    sy, qy = torch.arange(3).repeat(2).to(META), torch.arange(3).to(META)
    with OneDevice():
        assert meta_learning.matching_log_probs(s, sy, q, 3).device == META
    with OneDevice(), pytest.raises((RuntimeError, NotImplementedError), match=NO_DATA):
        meta_learning.prototypical_loss(s, sy, q, qy, 3)  # it checks that every class has support: a value to read


@pytest.mark.parametrize("device", ["cpu", "meta"])
def test_maml_adapts_a_head_where_it_is(monkeypatch, device):
    head = nn.Linear(4, 3).to(device)
    support, support_y, query = torch.randn(6, 4), torch.arange(3).repeat(2), torch.randn(5, 4)
    start = {k: v.detach().requires_grad_() for k, v in head.named_parameters()}
    adapted = run_where_it_is(monkeypatch, lambda: meta_learning.adapt_head(head, start, support, support_y, 2), head)
    classify = meta_learning.anil_classifier(head, steps=2)
    predicted = run_where_it_is(monkeypatch, lambda: classify(support, support_y, query, 3), head)
    assert all(p.device == torch.device(device) for p in adapted.values())
    assert predicted.device == torch.device(device) and predicted.shape == (5,)  # both run through on meta


# --- pre-training without labels -----------------------------------------------------------------------


def test_the_pretext_pieces_follow_their_input():
    z, g = torch.randn(4, 5).to(META), torch.Generator().manual_seed(0)
    with OneDevice():
        assert pretext.nt_xent(z, z).device == META
        masked, mask = pretext.mask_patches(torch.rand(2, 1, 28, 28).to(META), 0.5, g)  # drawn on the CPU, moved
    assert masked.device == META and mask.device == META


@pytest.mark.parametrize("device", ["cpu", "meta"])
def test_self_supervised_training_runs_where_the_encoder_is(monkeypatch, device, background):
    encoder, decoder = tiny_net(device), pretext.Decoder(dim=8).to(device)
    simclr = run_where_it_is(
        monkeypatch, lambda: pretext.train_simclr(encoder, background, 1, batch_size=4, progress=False), encoder
    )
    masked = run_where_it_is(
        monkeypatch,
        lambda: pretext.train_masked(encoder, decoder, background, 1, batch_size=4, progress=False),
        encoder,
        decoder,
    )
    if device == "cpu":
        assert len(simclr) == len(masked) == 1


def test_an_encoder_and_a_decoder_on_two_devices_are_refused(background):
    with pytest.raises(ValueError, match="encoder is on meta but the decoder on cpu"):
        pretext.train_masked(tiny_net("meta"), pretext.Decoder(dim=8), background, 1, progress=False)


def test_the_linear_probe_encodes_where_the_encoder_is(monkeypatch):
    encoder = tiny_net("meta")
    run_where_it_is(monkeypatch, lambda: pretext.probe_encoder(encoder, sizes=(5,), draws=1), encoder)


# --- fine-tuning MiniLM on cached layers ---------------------------------------------------------------

SENTENCES = ["The for statement iterates over a sequence.", "Short.", "Strings are immutable.", "A class suite."]
LABELS = torch.tensor([0, 1, 1, 0])


@pytest.fixture(scope="module")
def cache() -> tft.LayerCache:
    return tft.cache_lower_layers(SENTENCES, 5, max_length=16, progress=False)


def test_a_cache_batch_goes_where_it_is_asked(cache):
    with OneDevice():
        hidden, mask = cache.batch(torch.tensor([0, 1]), META)
    assert hidden.device == META and mask.device == META
    assert cache.hidden.device.type == "cpu"  # the cache itself stays on the CPU


@pytest.mark.parametrize("device", ["cpu", "meta"])
def test_text_fine_tuning_runs_where_the_classifier_is(monkeypatch, device, cache):
    rows = torch.arange(len(SENTENCES))
    for variant in (lambda m: m, tft.bitfit, lambda m: tft.add_lora(m, rank=2)):
        model = variant(tft.TopLayersClassifier(1, 2).to(device))
        assert {p.device for p in model.parameters()} == {torch.device(device)}  # LoRA's A and B too
        run_where_it_is(
            monkeypatch,
            lambda m=model: tft.fine_tune(m, cache, rows, LABELS, epochs=1, batch_size=2, progress=False),
            model,
        )
        logits = run_where_it_is(monkeypatch, lambda m=model: tft.predict(m, cache, rows), model)
        embedded = run_where_it_is(monkeypatch, lambda m=model: tft.embed(m, cache, rows), model)
        if device == "cpu":
            assert logits.shape == (4, 2) and embedded.shape == (4, 384)


def test_a_probe_initialises_a_head_on_any_device(cache):
    from sklearn.linear_model import LogisticRegression

    features = tft.embed(tft.TopLayersClassifier(1, 2), cache, torch.arange(4))
    probe = LogisticRegression().fit(features.numpy(), LABELS.numpy())
    model = tft.TopLayersClassifier(1, 2).to(META).init_head_from_probe(probe)
    assert model.head.weight.device == META
