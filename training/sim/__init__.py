"""Vectorized 5G NR downlink link simulator (numpy only; never imports torch).

Importing the package registers the Gymnasium environment ``LinkAdaptation-v0``
when Gymnasium is installed (the serving image runs the simulator without it).
"""

import importlib.util

if importlib.util.find_spec("gymnasium") is not None:
    from training.sim.env import register as _register_env

    _register_env()
