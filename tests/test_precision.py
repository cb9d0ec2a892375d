"""The numeric precision: chosen per machine, overridable, refused by name when unknown, kept apart in caches."""
from __future__ import annotations

import numpy as np
import pytest

from recsys import precision as P
from recsys.cli import main
from recsys.errors import ConfigError, UnknownPrecisionError
from recsys.recommend import Models


def test_names_arguments_and_the_environment(monkeypatch):
    monkeypatch.delenv("RECSYS_PRECISION", raising=False)
    assert P.parse(None) == "auto" and P.parse("BF16") == "bfloat16" and P.parse(" fp32 ") == "float32"
    monkeypatch.setenv("RECSYS_PRECISION", "bfloat16")
    assert P.parse(None) == "bfloat16" and P.parse("float32") == "float32"  # the argument wins


@pytest.mark.parametrize("name", ["float16", "int8", "", "bf17"])
def test_an_unknown_precision_is_refused_by_name(name):
    with pytest.raises(UnknownPrecisionError, match="unknown precision") as e:
        Models(precision=name)
    assert isinstance(e.value, ConfigError) and e.value.name == name


def test_the_cli_turns_an_unknown_precision_into_one_line(tmp_path, capsys, monkeypatch):
    assert main(["recommend", "--db", str(tmp_path / "r.db"), "--history", "", "--precision", "half"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "error: unknown precision 'half': use one of auto, float32, bfloat16"
    monkeypatch.setenv("RECSYS_PRECISION", "double")
    assert main(["health", "--db", str(tmp_path / "r.db"), "--no-load"]) == 2
    assert capsys.readouterr().err.strip().startswith("error: unknown precision 'double'")


def test_auto_takes_bfloat16_only_where_it_is_native(monkeypatch):
    monkeypatch.setattr(P, "bf16_native", lambda device: (True, "the CPU has avx512_bf16"))
    assert P.choose("auto", "cpu").name == "bfloat16"
    assert P.choose("auto", "cpu", allow_bf16=False).name == "float32"  # an embedder not measured close enough
    assert P.choose("float32", "cpu").name == "float32"
    monkeypatch.setattr(P, "bf16_native", lambda device: (False, "the CPU lacks avx512_bf16 and amx_bf16"))
    auto = P.choose("auto", "cpu")
    assert auto.name == "float32" and "lacks" in auto.describe()
    forced = P.choose("bfloat16", "cpu")  # asked for without native support: runs, and says it is slow
    assert forced.name == "bfloat16" and "emulated, slow" in forced.reason


def test_the_cpu_verdict_agrees_with_its_flags():
    native, why = P.bf16_native("cpu")
    flags = P.cpu_flags()
    if any(f in flags for f in P.CPU_FLAGS):
        assert native and "avx512_bf16" in why or "amx_bf16" in why
    assert P.bf16_native("mps") == (False, "bfloat16 is not used on mps")


def test_the_probe_is_measured_once_and_remembered(tmp_path, monkeypatch):
    calls = []
    real = P.probe
    monkeypatch.setattr(P, "probe", lambda: calls.append(1) or real(rows=64, width=64, out=64, repeats=2))
    first = P.remembered_probe(tmp_path / "probe.json")
    assert first > 0 and P.remembered_probe(tmp_path / "probe.json") == round(first, 3) and len(calls) == 1


def test_cache_keys_keep_precisions_apart():
    f32, bf16 = Models(device="cpu", precision="float32"), Models(device="cpu", precision="bfloat16")
    assert f32.lm_cache_key("smollm2-135m") == "smollm2-135m"
    assert bf16.lm_cache_key("smollm2-135m") == "smollm2-135m@bf16"
    assert f32.embedder("all-minilm-l6-v2").key != bf16.embedder("all-minilm-l6-v2").key


@pytest.mark.slow
def test_bfloat16_scores_rank_like_float32_and_are_cached_apart(demo_catalog):
    """The real model in bfloat16 (natively or emulated): the same order of candidates to within a swap or two,
    its scores stored under their own key beside float32's, and both models in the precision they claim."""
    from recsys.config import ScoringConfig
    from recsys.text import template_for

    catalog = demo_catalog
    items = catalog.dataset_items("movies")[:30]
    template = template_for("movies", None)
    ys = [i.lm_text() for i in items]
    out = {}
    for name in ("float32", "bfloat16"):
        models = Models(device="cpu", precision=name)
        assert str(models.lm("smollm2-135m").model.dtype) == f"torch.{name}"
        scorer = models.pair_scorer(catalog, ScoringConfig())
        ell, _ = scorer.matrix(template, ["Toy Story"], ys)
        out[name] = ell[0]
        assert scorer.computed == len(ys)  # nothing read from the other precision's rows
    keys = {k for (k,) in catalog.db.execute("SELECT DISTINCT model FROM pair_scores")}
    assert keys == {"smollm2-135m", "smollm2-135m@bf16"}
    from scipy.stats import kendalltau

    assert kendalltau(out["float32"], out["bfloat16"]).statistic > 0.9
    assert np.max(np.abs(out["float32"] - out["bfloat16"])) < 1.5


@pytest.mark.slow
def test_the_embedder_in_bfloat16_stays_within_cosine_0_99_of_float32():
    texts = ["Toy Story", "The Shining", "So What - Miles Davis", "Attention is all you need", "Coco (2017)"]
    f32 = Models(device="cpu", precision="float32").embedder("all-minilm-l6-v2").encode(texts)
    bf16 = Models(device="cpu", precision="bfloat16").embedder("all-minilm-l6-v2").encode(texts)
    assert bf16.dtype == np.float32 and bf16.shape == f32.shape
    np.testing.assert_allclose(np.linalg.norm(bf16, axis=1), 1, atol=1e-6)  # a dot product is a cosine
    assert (f32 * bf16).sum(axis=1).min() >= P.MIN_EMBEDDER_COSINE
