"""Collection: turn a dataset and a list of models into a session folder of scored records.

``CollectionRunner`` (runner.py) plans the tasks, asks the models through
``llm_solutions.calls.Caller``, scores answers with ``llm_solutions.scoring.Scorer`` and
appends one record per task (records.py) to the session store (store.py); session.py
resumes and loads sessions, rescoring.py checks stored answers again.  Provider batch jobs
(``batch``) will feed the same records through the same runner.
"""
