import math

import pytest
import torch

from shiftkit.kernels import KERNELS, Kernel, epanechnikov, flat, gaussian, get_kernel, triangular

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
