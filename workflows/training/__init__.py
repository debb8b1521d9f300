"""The Trainer's collaborators, one idea each; :mod:`workflows.trainer` is the loop.

- :mod:`.evaluation`: what an evaluation returns and how examples are scored (in parallel);
- :mod:`.parameters`: the trained parameters by name, their state through ``Module``;
- :mod:`.best`: the best parameters seen on validation, per task where tasks are independent;
- :mod:`.run_log`: step records, ``steps.jsonl`` and the files a finished run leaves;
- :mod:`.run_state`: the run's position and history, to and from the JSON checkpoint;
- :mod:`.progress`: the progress bar;
- :mod:`.failures`: failed steps said as they happen, and when the run gives up;
- :mod:`.usage`: what was spent, as the log records it;
- :mod:`.archive_steps`: a Trainer step as one step of an archive search.
"""
