"""Generative models.

Generative models of behavior: diffusion (DDPM, VP-SDE + DPM-Solver) and its denoising
networks, state-conditioned Gaussian mixtures and Hamiltonian Monte Carlo. They import only the
core modules; algorithms import them. Modules: :mod:`~jaxrl_offline.generative.denoisers`,
:mod:`~jaxrl_offline.generative.diffusion`, :mod:`~jaxrl_offline.generative.mcmc`,
:mod:`~jaxrl_offline.generative.mixture`.
"""
