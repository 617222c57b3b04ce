"""Run-time choices shared by every model: device, seed, provenance.

Nothing here runs at import: the device is resolved when a function is called.
"""

from __future__ import annotations

import platform
from importlib.metadata import PackageNotFoundError, version
from typing import Literal

import numpy as np

from .errors import ScdlError

Device = Literal["auto", "cpu", "cuda"]

_VERSIONED = ("napari-scdl", "numpy", "scipy", "anndata", "scanpy", "squidpy", "scikit-learn",
              "torch", "torch-geometric")


def resolve_device(device: str = "auto") -> str:
    """Return ``"cuda"`` or ``"cpu"`` for ``device`` in ``{"auto", "cpu", "cuda"}``.

    ``auto`` picks CUDA when torch sees a GPU. Asking for ``cuda`` without one raises.
    """
    import torch

    if device not in ("auto", "cpu", "cuda") and not str(device).startswith("cuda:"):
        raise ScdlError(f"device must be 'auto', 'cpu' or 'cuda', not {device!r}")
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if str(device).startswith("cuda") and not torch.cuda.is_available():
        raise ScdlError("device='cuda' was requested but torch sees no CUDA GPU; use device='auto' or 'cpu'")
    return str(device)


def torch_generator(seed: int, device: str = "cpu"):
    """A local torch generator (no global seeding)."""
    import torch

    gen = torch.Generator(device=device)
    gen.manual_seed(int(seed))
    return gen


def seed_everything_local(seed: int) -> np.random.Generator:
    """Return a numpy Generator and seed torch's default generator for this call's layers.

    torch layers draw their initial weights from the global generator; we seed it right
    before building a network (in the caller's thread), which keeps fixed-seed runs
    reproducible without seeding anything at import.
    """
    import torch

    torch.manual_seed(int(seed))
    return np.random.default_rng(int(seed))


def versions() -> dict[str, str]:
    """Versions of Python and the packages a result depends on."""
    out = {"python": platform.python_version()}
    for name in _VERSIONED:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            continue
    return out


def _env_threads() -> int | None:
    """``$NAPARI_SCDL_THREADS`` as a positive count, else None."""
    import os

    env = os.environ.get("NAPARI_SCDL_THREADS", "")
    return int(env) if env.isdigit() and int(env) > 0 else None


def n_torch_threads(n_obs: int | None = None) -> int:
    """A sensible, deterministic torch thread count for training on ``n_obs`` spots.

    ``$NAPARI_SCDL_THREADS`` if set; one thread for small samples (< 2,000 spots: threads
    only add overhead, and torch's OpenMP barriers made each sparse op on a small graph ~40x
    slower with 2 threads than with 1 on a busy 2-core machine); else every available core.
    The count never depends on the machine's momentary load: float reductions differ with
    the thread count, so a fixed seed gives the same result only with the same count.
    """
    import os

    if (env := _env_threads()) is not None:
        return env
    if n_obs is not None and n_obs < 2000:
        return 1
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


#: below this many spots numpy/scipy's BLAS runs on one thread during a model run
BLAS_ONE_THREAD_SPOTS = 50_000


def n_blas_threads(n_obs: int | None = None) -> int | None:
    """BLAS threads (numpy's and scipy's OpenBLAS) for a model run on ``n_obs`` spots;
    ``None`` leaves the library's own count.

    ``$NAPARI_SCDL_THREADS`` if set; one thread below :data:`BLAS_ONE_THREAD_SPOTS`. The
    products of a run's PCA, mixture EM and Ward start are small (a few thousand rows by at
    most 50 columns), and on a 2-core machine OpenBLAS's thread hand-offs, next to torch's
    waiting OpenMP threads, cost more than they save: one ``domains`` call on 151673 took
    5.5 s with 2 BLAS threads and 3.2 s with one (the mixture EM 3.7 s against 1.4 s, the
    input PCA 0.8 against 0.5). At 100,000 spots the input PCA is 15% faster with both
    cores, so large samples keep them. Like torch's count, it never depends on the load.
    """
    if (env := _env_threads()) is not None:
        return env
    if n_obs is not None and n_obs < BLAS_ONE_THREAD_SPOTS:
        return 1
    return None


class torch_threads:  # noqa: N801 - used as a context manager
    """Set torch's intra-op thread count for a block, restoring it afterwards."""

    def __init__(self, n_obs: int | None = None) -> None:
        self.n = n_torch_threads(n_obs)

    def __enter__(self) -> int:
        import torch

        self.before = torch.get_num_threads()
        torch.set_num_threads(self.n)
        return self.n

    def __exit__(self, *exc) -> None:
        import torch

        torch.set_num_threads(self.before)


class blas_threads:  # noqa: N801 - used as a context manager
    """Limit numpy's and scipy's BLAS to :func:`n_blas_threads` threads for a block
    (threadpoolctl, scikit-learn's dependency), restoring the count afterwards."""

    def __init__(self, n_obs: int | None = None) -> None:
        self.n = n_blas_threads(n_obs)
        self._limits = None

    def __enter__(self) -> int | None:
        if self.n is not None:
            # scipy's wheels carry their own OpenBLAS beside numpy's: load it now, or a
            # limit set before scipy.linalg's first import misses it (threadpoolctl only
            # sees libraries already loaded) and the mixture's solves run on 2 threads
            import scipy.linalg  # noqa: F401
            from threadpoolctl import threadpool_limits

            self._limits = threadpool_limits(limits=self.n, user_api="blas")
        return self.n

    def __exit__(self, *exc) -> None:
        if self._limits is not None:
            self._limits.restore_original_limits()
            self._limits = None
