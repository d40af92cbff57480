"""A teacher learned from full-information labels instead of rewards.

The simulator knows, in every state, the error probability of every MCS on the
true channel. :mod:`~training.label_teacher.collect` records the report each UE's
gNB saw and those labels; :mod:`~training.label_teacher.network` learns what the
report predicts of them; :mod:`~training.label_teacher.calibrate` sets the price of
an error per BLER target; :mod:`~training.label_teacher.pipeline` runs the rounds
and exports the ONNX teacher. docs/training.md says why and what it measured.
"""
