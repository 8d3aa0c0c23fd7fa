"""Seeded mutants of the agent, and whether the tests and the eval suites notice them.

A test suite is only as good as the bugs it catches. Each mutant (:mod:`.catalog`) breaks one
behaviour a user depends on (a tool's data, the loop, the gate, provenance, the tool filter,
the clock in the prompt), by a monkeypatch applied when a process starts, and ``make
mutants`` (:mod:`.run`) runs the tests and the suites under each one in a subprocess: a mutant
that nothing kills is a hole in the checks. Not part of ``make test`` (minutes, not seconds).
"""
