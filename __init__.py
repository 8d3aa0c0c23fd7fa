"""morrow: a personal assistant for the terminal.

The repository's top folders install as one import package: ``morrow.agent``, ``morrow.tools``,
``morrow.memory`` and ``morrow.evals`` (four floors, each importing only the ones below it).
Nothing is imported here, so ``import morrow.agent.cli`` stays as cheap as its own imports.
"""
