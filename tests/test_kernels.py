import math

import pytest
import torch

from shiftkit.kernels import (
    KERNELS,
    Kernel,
    epanechnikov,
    flat,
    gaussian,
    get_kernel,
    register_kernel,
    triangular,
)

DIST = torch.tensor([0.0, 1.0, 2.0, 2.5, 3.0, 10.0], dtype=torch.float64)


@pytest.mark.parametrize(
    ("kernel", "expected"),
    [
        (gaussian, [math.exp(-(d**2) / (2 * 2.5**2)) for d in DIST.tolist()]),
        (flat, [1.0, 1.0, 1.0, 1.0, 0.0, 0.0]),
        (triangular, [max(0.0, 1 - d / 2.5) for d in DIST.tolist()]),
        (epanechnikov, [max(0.0, 1 - d**2 / 2.5**2) for d in DIST.tolist()]),
    ],
)
def test_profiles_match_their_formulas(kernel, expected):
    torch.testing.assert_close(kernel(DIST**2, 2.5), torch.tensor(expected, dtype=torch.float64))


def test_lesson_gaussian_is_ours_up_to_its_constant():
    # The lesson: exp(-0.5 * (d / bw)^2) / (bw * sqrt(2 pi)); mean shift divides the constant away.
    bw = 2.5
    lesson = torch.exp(-0.5 * (DIST / bw) ** 2) / (bw * math.sqrt(2 * math.pi))
    torch.testing.assert_close(gaussian(DIST**2, bw), lesson * bw * math.sqrt(2 * math.pi))


@pytest.mark.parametrize("name", sorted(KERNELS))
def test_weight_is_one_at_zero_and_decreasing(name):
    k = get_kernel(name)
    w = k(torch.linspace(0, 20, 200, dtype=torch.float64), 2.0)
    assert w[0] == 1.0
    assert bool((w[1:] <= w[:-1]).all())
    assert bool(((w >= 0) & (w <= 1)).all())


def test_support_radius():
    assert get_kernel("gaussian").support_radius(2.0) == math.inf
    for name in ("flat", "triangular", "epanechnikov"):
        k = get_kernel(name)
        assert k.support_radius(2.0) == 2.0
        assert k(torch.tensor([4.0 + 1e-6]), 2.0).item() == 0.0


def test_get_kernel_errors():
    with pytest.raises(ValueError, match="unknown kernel 'cosine'"):
        get_kernel("cosine")
    with pytest.raises(TypeError, match="kernel must be a string or a Kernel"):
        get_kernel(3)
    k = Kernel("custom", flat, compact=True)
    assert get_kernel(k) is k


@pytest.mark.parametrize("name", sorted(KERNELS))
@pytest.mark.parametrize("d", [1, 2, 5, 30])
def test_closed_form_equivalent_radius_matches_the_numeric_one(name, d):
    k = get_kernel(name)
    numeric = Kernel("probe", k.profile, k.compact).gaussian_equivalent_radius(d)
    assert k.gaussian_equivalent_radius(d) == pytest.approx(numeric, rel=1e-3)


def _biweight(sq_dist, bandwidth):
    return (1.0 - sq_dist / bandwidth**2).clamp_min(0.0) ** 2


@pytest.fixture
def biweight():
    kernel = register_kernel(Kernel("biweight", _biweight, compact=True))
    yield kernel
    del KERNELS["biweight"]


def test_a_registered_kernel_works_everywhere_a_builtin_does(biweight, lesson_blobs):
    from shiftkit import MeanShift, QuickShift, select_bandwidth, shift

    X = lesson_blobs[0]
    # no bandwidth given: the rules scale to its Gaussian-equivalent radius, found numerically
    ms = MeanShift(kernel="biweight").fit(X)
    assert ms.bandwidth_ == pytest.approx(select_bandwidth(X) * biweight.gaussian_equivalent_radius(2))
    assert len(MeanShift(kernel="biweight", bandwidth=6.0).fit(X).cluster_centers_) == 6
    assert ms.engine_ == "dense"  # no compiled formula: the engines that evaluate the profile
    _, density = shift(X[:5], X, 6.0, "biweight", dtype="float64")
    assert bool((density > 0).all())
    assert QuickShift().fit(X).labels_.shape == (len(X),)


@pytest.mark.parametrize(
    ("kernel", "message"),
    [
        (Kernel("gaussian", gaussian, compact=False), "already registered"),
        (Kernel("coded", flat, compact=True, code=1), "compiled formula"),
        (Kernel("half", lambda d, h: 0.5 * flat(d, h), compact=True), "1 at distance 0"),
        (
            Kernel("rising", lambda d, h: torch.where(d < 1, 1.0, 1.0 + 0 * d).clamp(max=1), compact=True),
            "beyond the bandwidth",
        ),
        (Kernel("bump", lambda d, h: torch.cos(d), compact=False), "fall from 1 towards 0"),
        (Kernel("broken", lambda d, h: [1.0], compact=False), "tensor of the input's shape"),
    ],
)
def test_register_kernel_refuses_a_bad_profile(kernel, message):
    with pytest.raises(ValueError, match=message):
        register_kernel(kernel)
    assert kernel.name not in KERNELS or KERNELS[kernel.name] is not kernel


def test_square_ratio_is_the_variance_of_a_kernel_count_per_unit():
    # int K^2 / int K in d dimensions: the Gaussian's 2^(-d/2) in closed form; the others by quadrature,
    # against their closed forms (Epanechnikov 1-D: (1 - 2/3 + 1/5) / (1 - 1/3) = 0.8; triangular 2-D:
    # (1/2 - 2/3 + 1/4) / (1/2 - 1/3) = 0.5; flat: 1 in any dimension)
    assert get_kernel("gaussian").square_ratio(2) == 0.5
    assert abs(get_kernel("epanechnikov").square_ratio(1) - 0.8) < 1e-4
    assert abs(get_kernel("triangular").square_ratio(2) - 0.5) < 1e-4
    assert abs(get_kernel("flat").square_ratio(5) - 1.0) < 1e-4
    # a Gaussian profile under another name takes the quadrature, and agrees
    assert abs(Kernel("mine", gaussian, False).square_ratio(3) - 2.0**-1.5) < 1e-4
