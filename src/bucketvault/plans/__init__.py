"""Plans: named, parameterised workflows of phases and steps (the DC/OS SDK plan model).

This package owns the plan state machine and only it: statuses and their derivation,
strategies, operations (start, stop, pause, resume, force-restart, force-complete),
and persistence in SQLite so a restarted scheduler continues where it stopped.
What a step *does* is supplied from below (`tasks/`) as a `StepWork` callable.
"""
