#!/usr/bin/env python3
"""The best any change-point method can do on docs/history.md's +5% step: an oracle that knows
both levels and that there is exactly one step places it by maximum likelihood. Prints how often
it lands on the exact commit and within one commit.

    python3 tools/step_oracle.py [TRIALS] [SEED]

Series as tools/history_power.sh makes them: Gaussian noise at a 2.5% coefficient of variation,
the step at commit 60 (1-based) and 5 commits after it (65 points)."""
import random
import sys

trials = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
rng = random.Random(int(sys.argv[2]) if len(sys.argv) > 2 else 1)
n, step, cv, size = 65, 59, 0.025, 0.05  # step: 0-based index of the first raised point
a, b = 1.0, 1.0 + size
exact = near = 0
for _ in range(trials):
    x = [rng.gauss(a if i < step else b, cv * (a if i < step else b)) for i in range(n)]
    # Log-likelihood of a step at k, up to constants: the points before k belong to a, the
    # rest to b. Equal variances: compare squared errors.
    cost = [sum((v - b) ** 2 for v in x)]  # k = 0: every point at b
    for k in range(1, n):
        cost.append(cost[-1] - (x[k - 1] - b) ** 2 + (x[k - 1] - a) ** 2)
    best = min(range(1, n), key=lambda k: cost[k])
    exact += best == step
    near += abs(best - step) <= 1
print(f"{trials} series: the oracle finds the step at its commit in {100 * exact / trials:.1f}%,"
      f" within one commit in {100 * near / trials:.1f}%")
