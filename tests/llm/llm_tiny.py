"""The tiny LLM backend settings of the tests."""

TINY = dict(device="cpu", cache_dir="", n_layer=1, n_embd=32, n_head=4, n_kv_head=2, pretrain_steps=0,
            init_accuracy=0.0, num_prompts=4, group_size=4, max_new_tokens=5, num_train_problems=64,
            num_eval_problems=6, eval_samples=2, eval_k=[1, 2], task_args={"num_digits": 1, "num_operands": 2})
"""A one-layer model, no warm start: every test builds it in well under a second."""

PROMPTS = ["A1+2=", "S12,07,33=", "C3,4,7:025=", "A9+9="]
"""Prompts of unequal length, so left padding is exercised."""
