"""Models: ``BaseModel`` and its ``Request``/``Completion``, the model table, and one module per
SDK family holding only the wire mapping (request in, ``Completion`` out, SDK errors mapped to
``llm_solutions.errors``).  Nothing here waits, retries, caches or prices a whole call: that is
``llm_solutions.calls``.  ``registry.load_registry`` is the way in.
"""
