"""The projection of an embedding input against the reference implementations.

scikit-learn's PCA is the oracle of the components, their spread and the coordinates;
scipy's ``mahalanobis`` that of ``:distance``; the residual and the norm are checked
against their definitions. Then the JSON form: round trip and the errors naming the field.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy.spatial.distance import mahalanobis
from sklearn.decomposition import PCA

from mlscope.engine import embedding
from mlscope.engine.embedding import EmbeddingInput
from mlscope.engine.profile import Profile
from mlscope.errors import ProfileError
from tests.embedding._data import DIM, embeddings

#: Fewer rows than a held-out split needs: the projection and the bins see the same rows.
SMALL = 800


@pytest.fixture(scope="module")
def sample() -> np.ndarray:
    return embeddings(SMALL, 1)


@pytest.fixture(scope="module")
def fitted(sample: np.ndarray) -> EmbeddingInput:
    return embedding.fit("vec", sample, bins=20, top_k=20)[0]


@pytest.fixture(scope="module")
def oracle(sample: np.ndarray) -> PCA:
    return PCA(n_components=embedding.COMPONENTS, svd_solver="full").fit(sample)


def test_components_are_scikit_learns_pca(fitted: EmbeddingInput, oracle: PCA) -> None:
    assert fitted.components.shape == (embedding.COMPONENTS, DIM)
    np.testing.assert_allclose(fitted.mean, oracle.mean_, rtol=0, atol=1e-12)
    np.testing.assert_allclose(fitted.scales**2, oracle.explained_variance_, rtol=1e-10)
    # Same directions up to sign; ours have their largest loading positive.
    dots = np.sum(fitted.components * oracle.components_, axis=1)
    np.testing.assert_allclose(np.abs(dots), 1.0, atol=1e-9)
    top = fitted.components[np.arange(len(dots)), np.argmax(np.abs(fitted.components), axis=1)]
    assert (top > 0).all()


def test_coordinates_are_the_pca_transform(fitted: EmbeddingInput, oracle: PCA) -> None:
    x = embeddings(300, 2)
    got = fitted.derive(x)
    signs = np.sign(np.sum(fitted.components * oracle.components_, axis=1))
    want = oracle.transform(x) * signs
    for i in range(embedding.COMPONENTS):
        np.testing.assert_allclose(got[f"vec:pc{i + 1}"], want[:, i], rtol=1e-9, atol=1e-9)


def test_distance_is_scipys_mahalanobis_in_component_space(
    fitted: EmbeddingInput, oracle: PCA, sample: np.ndarray
) -> None:
    z_ref = oracle.transform(sample)
    inverse_cov = np.linalg.inv(np.cov(z_ref, rowvar=False))
    x = embeddings(50, 3)
    want = [mahalanobis(z, np.zeros(z.size), inverse_cov) for z in oracle.transform(x)]
    np.testing.assert_allclose(fitted.derive(x)["vec:distance"], want, rtol=1e-7)


def test_residual_and_norm_follow_their_definitions(
    fitted: EmbeddingInput, oracle: PCA, sample: np.ndarray
) -> None:
    def outside(v: np.ndarray) -> np.ndarray:
        r: np.ndarray = np.linalg.norm(v - oracle.inverse_transform(oracle.transform(v)), axis=1)
        return r

    rms = np.sqrt(np.mean(outside(sample) ** 2))
    x = embeddings(50, 4)
    got = fitted.derive(x)
    np.testing.assert_allclose(got["vec:residual"], outside(x) / rms, rtol=1e-8)
    np.testing.assert_allclose(got["vec:norm"], np.linalg.norm(x, axis=1), rtol=1e-12)
    assert 0.9 < float(np.mean(fitted.derive(sample)["vec:residual"] ** 2)) < 1.1


def test_a_large_reference_is_sampled_and_binned_on_rows_the_fit_never_saw() -> None:
    ref = embeddings(1_200, 5)
    inp, features = embedding.fit("vec", ref, bins=10, top_k=20)
    assert all(f.n_rows == 600 for f in features)  # the other half fitted the projection
    again, _ = embedding.fit("vec", ref, bins=10, top_k=20)
    assert again.to_dict() == inp.to_dict()  # seeded: the same reference, the same profile


@pytest.mark.parametrize(("rows", "dim", "k"), [(50, 3, 3), (5, 20, 4), (400, 384, 8)])
def test_fewer_components_when_the_dimension_or_rows_are_few(rows: int, dim: int, k: int) -> None:
    x = np.random.default_rng(6).normal(size=(rows, dim))
    inp, features = embedding.fit("v", x, bins=5, top_k=5)
    assert len(inp.scales) == k
    assert [f.name for f in features] == list(inp.feature_names)
    assert list(inp.feature_names)[-3:] == ["v:distance", "v:residual", "v:norm"]


def test_a_reference_of_one_repeated_vector_has_no_components() -> None:
    inp, _ = embedding.fit("v", np.tile(np.arange(4.0), (30, 1)), bins=5, top_k=5)
    assert len(inp.scales) == 0 and inp.residual_scale == 1.0
    got = inp.derive(np.array([[0.0, 1.0, 2.0, 3.0], [0.0, 1.0, 2.0, 5.0]]))
    np.testing.assert_allclose(got["v:residual"], [0.0, 2.0])
    np.testing.assert_allclose(got["v:distance"], [0.0, 0.0])


# --------------------------------------------------------------------------- JSON
def _profile() -> Profile:
    rng = np.random.default_rng(7)
    return Profile.from_frame({"vec": embeddings(400, 8), "x": rng.normal(size=400)}, embeddings=["vec"])


def test_json_round_trip_keeps_the_projection(tmp_path: Path) -> None:
    prof = _profile()
    prof.save(tmp_path / "p.json")
    back = Profile.load(tmp_path / "p.json")
    assert back.to_dict() == prof.to_dict() and back.hash == prof.hash
    assert back.inputs[0].feature_names == prof.inputs[0].feature_names
    x = embeddings(20, 9)
    for k, v in prof.inputs[0].derive(x).items():
        np.testing.assert_array_equal(back.inputs[0].derive(x)[k], v)
    saved = back.to_dict()["inputs"][0]
    assert saved["kind"] == "embedding" and saved["dim"] == DIM
    assert np.asarray(saved["components"]).shape == (embedding.COMPONENTS, DIM)


def _broken(edit: Any) -> dict[str, Any]:
    data: dict[str, Any] = copy.deepcopy(_PROFILE_DICT)
    edit(data["inputs"][0])
    return data


_PROFILE_DICT = json.loads(json.dumps(_profile().to_dict()))


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda d: d.update(components=d["components"][:-1]),
            r"'inputs\[0\].components' must be a list of 8 lists of 384 numbers \(got shape \(7, 384\)\)",
        ),
        (
            lambda d: d["components"][2].pop(),
            r"'inputs\[0\].components' must be a list of 8 lists of 384 numbers \(got ragged",
        ),
        (lambda d: d.update(components="x"), r"'inputs\[0\].components' must be .* \(got str\)"),
        (
            lambda d: d.update(mean=d["mean"][:3]),
            r"'inputs\[0\].mean' must be a list of 384 numbers \(got shape \(3,\)\)",
        ),
        (lambda d: d.update(dim=0), r"'inputs\[0\].dim' must be an int >= 1 \(got 0\)"),
        (
            lambda d: d.update(scales=[*d["scales"][:-1], -1.0]),
            r"'inputs\[0\].scales' must be a list of at most 384 numbers > 0",
        ),
        (
            lambda d: d.update(residual_scale=None),
            r"'inputs\[0\].residual_scale' must be a number > 0 \(got NoneType\)",
        ),
        (lambda d: d.update(name=""), r"'inputs\[0\].name' must be a non-empty string"),
        (lambda d: d["mean"].__setitem__(0, "a"), r"'inputs\[0\].mean' must be a list of 384 numbers"),
    ],
)
def test_a_malformed_projection_is_refused_naming_the_field(edit: Any, message: str) -> None:
    with pytest.raises(ProfileError, match=message):
        Profile.from_dict(_broken(edit))


def test_a_projection_whose_features_are_missing_is_refused() -> None:
    data = copy.deepcopy(_PROFILE_DICT)
    data["features"] = [f for f in data["features"] if f["name"] != "vec:residual"]
    with pytest.raises(ProfileError, match=r"'vec' derives 'vec:residual', which 'features' lacks"):
        Profile.from_dict(data)
