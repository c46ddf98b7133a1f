"""The tests' root: puts this folder on ``sys.path`` so every test can import the shared helpers beside it."""
