"""Physical constants (PDG values) in the package's internal units.

Internal units: energies and masses in MeV, lengths in fm or cm as named, times in
microseconds (us). Each constant carries its unit in the name or comment and its source.
Plain Python floats: they are compile-time constants, never traced parameters.
"""

import math

# --- couplings -------------------------------------------------------------------------
G_FERMI = 1.1663788e-11  # MeV^-2 (PDG: 1.1663788e-5 GeV^-2)
ALPHA_EM = 1.0 / 137.035999  # fine-structure constant at q = 0 (PDG)
SIN2_THETA_W_LOW = 0.23857  # MS-bar weak mixing angle at low energy (PDG, Erler & Su)

# --- masses (MeV) ----------------------------------------------------------------------
M_ELECTRON = 0.51099895
M_MUON = 105.6583755
M_TAU = 1776.86
M_PION = 139.57039  # charged pion
M_W = 80377.0
ATOMIC_MASS_UNIT = 931.49410242  # MeV per u

# --- lifetimes (us) --------------------------------------------------------------------
TAU_PION = 0.026033
TAU_MUON = 2.19698

# --- conversions -----------------------------------------------------------------------
HBARC_MEV_FM = 197.3269804  # MeV fm
HBARC_MEV_CM = HBARC_MEV_FM * 1e-13  # MeV cm
HBARC2_MEV2_CM2 = HBARC_MEV_CM**2  # MeV^2 cm^2: (natural cross section in MeV^-2) -> cm^2
AVOGADRO = 6.02214076e23  # 1/mol
MEV_PER_GEV = 1.0e3
KEV_PER_MEV = 1.0e3

# --- derived -----------------------------------------------------------------------------
#: Energy of the prompt nu_mu line from pi+ -> mu+ nu_mu at rest (MeV), ~29.79.
E_NU_PROMPT = (M_PION**2 - M_MUON**2) / (2.0 * M_PION)
#: Endpoint of the delayed (Michel) spectra, m_mu / 2 (MeV).
E_NU_MAX_DELAYED = M_MUON / 2.0

#: Muon anomalous magnetic moment discrepancy (2021 world average) and its 1 sigma.
DELTA_A_MU = 251e-11
DELTA_A_MU_ERR = 59e-11

#: Pion-nucleon sigma term over mean light-quark mass, reference value for the scalar.
SIGMA_PIN_MEV = 59.1  # MeV, PRL 115 (2015) 092301
M_UD_BAR_MEV = 3.42  # MeV, PDG
SIGMA_OVER_MUD_REF = SIGMA_PIN_MEV / M_UD_BAR_MEV  # ~17.3

SQRT2 = math.sqrt(2.0)
