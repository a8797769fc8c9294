"""Provider batch APIs: half the price, outside the online rate limits, results within 24 h.

``BatchCollector(folder, caller, models, ...).run(pending, item_for, deliver)`` is the way
in (the collection runner calls it for ``--batch``); ``batch_api(model)`` says whether a
model's provider has a batch API we use; ``Ledger`` reads a session's ``batches.json``;
``batch_config`` prices a model at its batch price.
"""

from llm_solutions.batch.collector import BatchCollector, BatchItem, batch_api
from llm_solutions.batch.ledger import LEDGER_FILE, Entry, Ledger
from llm_solutions.batch.prices import batch_config, batch_discount

__all__ = ["LEDGER_FILE", "BatchCollector", "BatchItem", "Entry", "Ledger", "batch_api", "batch_config",
           "batch_discount"]
