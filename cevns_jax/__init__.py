"""cevns_jax: differentiable CEvNS likelihoods for COHERENT data and light mediators.

The most used names are re-exported here; each lives in a small module whose name says
what it holds (see the README). Importing the package never changes JAX configuration:
call :func:`enable_x64` first in scripts and notebooks.
"""

from ._x64 import enable_x64 as enable_x64
from ._x64 import require_x64 as require_x64
from .bounds import coupling_bound as coupling_bound
from .bounds import regime_bound as regime_bound
from .charges import (
    U1Charges as U1Charges,
)
from .charges import (
    anomaly_free as anomaly_free,
)
from .charges import (
    get_model as get_model,
)
from .charges import (
    model_names as model_names,
)
from .csi2021 import build_csi2021 as build_csi2021
from .engine import profile_rows as profile_rows
from .engine import profiled_chi2 as profiled_chi2
from .experiment import Experiment as Experiment
from .experiment import ShapeParams as ShapeParams
from .fit import fit_sm as fit_sm
from .lar2020 import build_lar2020 as build_lar2020
from .likelihood import AbstractLikelihood as AbstractLikelihood
from .likelihood import JointLikelihood as JointLikelihood
from .likelihood_csi import CsILikelihood as CsILikelihood
from .likelihood_lar import LArLikelihood as LArLikelihood
from .mediator import Mediator as Mediator
from .mediator import mediator as mediator
from .mediator import standard_model as standard_model
from .rates import counts_polynomial as counts_polynomial
from .rates import expected_counts as expected_counts
from .registry import build_likelihood as build_likelihood

__version__ = "0.1.0"

__all__ = [
    "AbstractLikelihood",
    "CsILikelihood",
    "Experiment",
    "JointLikelihood",
    "LArLikelihood",
    "Mediator",
    "ShapeParams",
    "U1Charges",
    "anomaly_free",
    "build_csi2021",
    "build_likelihood",
    "build_lar2020",
    "counts_polynomial",
    "coupling_bound",
    "enable_x64",
    "expected_counts",
    "fit_sm",
    "get_model",
    "mediator",
    "model_names",
    "profile_rows",
    "profiled_chi2",
    "regime_bound",
    "require_x64",
    "standard_model",
]
