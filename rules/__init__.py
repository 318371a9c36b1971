"""The built-in rules, one module per asset kind, registered through the ``graphbuild.rules`` entry points."""
