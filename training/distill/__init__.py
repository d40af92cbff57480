"""Policy distillation: compress DQN teachers into small students (Rusu et al. 2016).

Phases, each in its own module: :mod:`~training.distill.teachers` (load a teacher
ONNX back into a network), :mod:`~training.distill.dataset` (run the teacher over
domain-randomized simulations on Ray actors, store states with its Q-values in
checked shards), :mod:`~training.distill.losses` (KL, NLL, MSE),
:mod:`~training.distill.student` (fit a student to a dataset),
:mod:`~training.distill.realtime` (teacher and student trained in one run),
:mod:`~training.distill.quantize` (INT8 variant and its fidelity).

The ``linkadapt distill`` pipeline: :mod:`~training.distill.config` (one configuration
per mode, which prints the command that reproduces a run), :mod:`~training.distill.plan`
(every check before any work), :mod:`~training.distill.pipeline` (single, multi, the
exports, attaching evaluations) and :mod:`~training.distill.dqn_modes` (realtime,
scratch).
"""
