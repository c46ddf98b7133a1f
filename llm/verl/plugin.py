"""The ``verl.plugins`` entry point: ``import verl`` registers entropic's losses and estimators in every process.

verl loads every entry point of the ``verl.plugins`` group when it is imported (``VERL_USE_EXTERNAL_PLUGINS``:
``auto``, the default; ``none``; or a list of names) and only logs a failure at debug level, so a broken
plugin is silent: ``tests/llm/test_verl_registration.py`` imports verl in a fresh process and looks the names
up. The trainer has its own entry point (``entropic_trainer``), so that the losses register even where
verl's trainer cannot be imported.
"""

from entropic.llm.verl import advantages, policy_losses  # noqa: F401  (registers entropic_* in verl)
