"""A probe: a 3x32 student with the label teacher's structure instead of 29 free scores.

The student is a :class:`training.label_teacher.network.LabelNetwork` with hidden layers
3x32: two heads (expected goodput and error probability of each MCS; of a teacher with
exact bits, the error head alone and the bits computed, as the teacher's) and the
teacher's own calibrated price, copied, so that the score's dependence on the BLER
target and the KPM window is exact rather than learned. It trains on a distillation
dataset with KL(softmax(q_T / tau) || softmax(s_S / tau)) on the scores (they are
bounded, hence the student's temperature too) plus ``--mse-weight`` times the squared
error of its heads against the teacher's. Prints the held-out agreement and regret after
every epoch and exports the student (with a card) for ``linkadapt evaluate``. Not a
distillation mode: the exported graph is the label network's, which the INT8 path does
not quantize.

``--calibrate`` then calibrates the student's own prices, as the teacher's were (its
error head need not err as the teacher's does).

    python scripts/structured_student_probe.py --dataset runs/distill-quick/dataset \
        --epochs 20 [--finite-buffer-share 0.25] [--calibrate] \
        --out runs/probe/student-3x32-heads.onnx
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path
from typing import cast

import numpy as np
import torch

from training.distill import dataset as ds
from training.distill.losses import kl_loss
from training.distill.student import (
    StudentConfig,
    agreement_and_regret,
    balanced_length,
    balanced_rows,
    cosine_decay,
    finite_buffer_rows,
)
from training.distill.teachers import load_teacher
from training.dqn import valid_actions
from training.export import export_onnx
from training.label_teacher.calibrate import calibrate
from training.label_teacher.network import LabelNetwork
from training.networks import QNetwork

_CHUNK = 65536


def main(argv: list[str] | None = None) -> int:
    """Train, report and export one structured student; 0 on success."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--teacher", type=Path,
                        default=Path("training/models/teacher-labels-long.onnx"))
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--tau", type=float, default=0.01)
    parser.add_argument("--mse-weight", type=float, default=10.0)
    parser.add_argument("--finite-buffer-share", type=float, default=None,
                        help="repeat finite-traffic states to this share of every epoch")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--calibrate", action="store_true",
                        help="after training, calibrate the student's own prices as the "
                             "teacher's were (worst benchmark scenario at each target, on "
                             "the calibration's seeds)")
    parser.add_argument("--calibration-ues", type=int, default=3072)
    parser.add_argument("--calibration-slots", type=int, default=1500)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    if args.calibration_ues < 1 or args.calibration_slots < 1:
        parser.error("--calibration-ues and --calibration-slots must be >= 1")
    try:  # the same rule as distill's students
        StudentConfig(finite_buffer_share=args.finite_buffer_share)
    except ValueError as exc:
        parser.error(str(exc))
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    teacher = load_teacher(args.teacher)
    if not isinstance(teacher.net, LabelNetwork):
        parser.error(f"--teacher {str(args.teacher)!r} is not a label teacher")
    data = ds.load_dataset(args.dataset)
    obs, q_t = torch.from_numpy(data.obs), torch.from_numpy(data.q)
    mask = valid_actions(obs)
    with torch.no_grad():  # the teacher's heads, the second target
        heads = [teacher.net.heads(obs[s:s + _CHUNK]) for s in range(0, len(obs), _CHUNK)]
    g_t, e_t = torch.cat([h[0] for h in heads]), torch.cat([h[1] for h in heads])
    # a teacher with exact bits makes an exact student: one head, the bits computed
    net = LabelNetwork((32, 32, 32), exact_bits=teacher.net.exact_bits)
    for name in ("knots", "slopes", "log_mu0"):
        setattr(net, name, getattr(teacher.net, name).clone())
    order = rng.permutation(len(obs))
    n_val = min(100_000, max(1, len(obs) // 20))  # 5% up to 100,000
    val, train = order[:n_val], order[n_val:]
    finite = finite_buffer_rows(data.obs)
    # with balancing, normalized over the rows an epoch sees (as distill's students are)
    norm_rows = (np.arange(min(200_000, len(obs))) if args.finite_buffer_share is None else
                 balanced_rows(train, finite, args.finite_buffer_share, rng)[:200_000])
    net.set_normalization(data.obs[norm_rows])
    batch = 2048
    epoch_rows = balanced_length(train, finite, args.finite_buffer_share)
    total = math.ceil(epoch_rows / batch) * args.epochs
    optimizer = torch.optim.Adam(net.parameters(), lr=3e-3)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda k: cosine_decay(k / total))
    started = time.monotonic()
    print(f"{net.parameter_count()} parameters, {len(train)} training states, "
          f"{epoch_rows} rows an epoch")
    for epoch in range(args.epochs):
        net.train()
        perm = torch.from_numpy(balanced_rows(train, finite, args.finite_buffer_share, rng))
        for start in range(0, len(perm), batch):
            rows = perm[start:start + batch]
            o, m = obs[rows], mask[rows]
            goodput, error = net.heads(o)
            score = goodput - net.price(o) * error
            # the student's scores share the teacher's temperature (they are bounded)
            kl = kl_loss(score / args.tau, q_t[rows], m, args.tau)
            squared = ((goodput - g_t[rows]) ** 2 + (error - e_t[rows]) ** 2) * m
            loss = kl + args.mse_weight * squared.sum() / m.sum()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
        net.eval()
        agreement, regret = agreement_and_regret(cast("QNetwork", net), data.obs[val],
                                                 data.q[val])
        print(f"epoch {epoch + 1}: held-out agreement {agreement:.4f}, regret {regret:.5f} "
              f"({time.monotonic() - started:.0f} s)", flush=True)
    calibration = None
    if args.calibrate:
        calibration = calibrate(net, args.seed, args.calibration_ues, args.calibration_slots)
        print(f"calibrated: prices {calibration['prices']} -> worst BLER "
              f"{calibration['worst_bler']} at {calibration['targets']}")
    card = {"model_id": "student-3x32-heads", "version": args.out.stem, "kind": "student",
            "training": {"probe": "scripts/structured_student_probe.py",
                         "teacher_id": teacher.teacher_id, "dataset": str(args.dataset),
                         "epochs": args.epochs, "tau": args.tau,
                         "mse_weight": args.mse_weight,
                         "finite_buffer_share": args.finite_buffer_share,
                         "exact_bits": net.exact_bits, "calibration": calibration}}
    export_onnx(net, args.out, card)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
