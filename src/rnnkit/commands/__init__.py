"""CLI sub-commands: each module defines ``register(subparsers)`` and sets a
``func(args)`` default that returns an exit code."""
