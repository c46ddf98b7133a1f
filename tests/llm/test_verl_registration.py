"""``import verl`` in a fresh process registers entropic's losses, estimators and trainer (entry points).

verl swallows a plugin's import error (it logs it at debug level), so only a lookup in a new process,
where nothing of entropic was imported first, shows that the ``verl.plugins`` entry points work.
"""

from __future__ import annotations

import json
import subprocess
import sys

from entropic.llm.verl.routes import ADAPTER_ADV_ESTIMATORS
from entropic.objectives import POLICY_LOSSES

PROBE = """
import json, sys
import verl
from verl.trainer.ppo.core_algos import ADV_ESTIMATOR_REGISTRY, POLICY_LOSS_REGISTRY
from verl.trainer.ppo.v1 import get_trainer_cls
json.dump({"losses": sorted(POLICY_LOSS_REGISTRY), "estimators": sorted(ADV_ESTIMATOR_REGISTRY),
           "trainer": get_trainer_cls("entropic").__qualname__}, sys.stdout)
"""


def test_import_verl_registers_everything_in_a_fresh_process() -> None:
    result = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    found = json.loads(result.stdout.strip().splitlines()[-1])
    assert {f"entropic_{name}" for name in POLICY_LOSSES.names()} <= set(found["losses"])
    assert {f"entropic_{name}" for name in ADAPTER_ADV_ESTIMATORS} <= set(found["estimators"])
    assert found["trainer"] == "EntropicPPOTrainer"
