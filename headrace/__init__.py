"""The composition root: the ``headrace`` command and what wires the parts together.

This is the one package allowed to import every other part (``broker``, ``connect`` and its runtime,
``rest``): :mod:`headrace.cli` (the console script), :mod:`headrace.launcher` (broker-less worker
processes: herder + REST) and :mod:`headrace.demo` (broker + worker + a pipeline). The layering rule
is checked by ``tests/test_layering.py`` and drawn in ``docs/ARCHITECTURE.md``.
"""
