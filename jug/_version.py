"""The version of jug, declared once: ``jug.__version__``, ``jug --version``, the metadata
``jug.io.write_metadata`` writes and the package build (pyproject reads it from here) use it.
Its own module so that those below the ``jug`` package (``jug.io``) need not import it."""

__version__ = "0.1.0"
