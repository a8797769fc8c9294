"""Settings: where every setting comes from, decided once.

* ``environment``: the only module that reads environment variables, with the list of
  every variable the library reads;
* ``layers``: the precedence rule (defaults < config file < environment < command line or
  code) and the one-line errors for bad values, shared by every kind of settings;
* ``values``: the readers that turn what a user wrote into typed values.

The kinds of settings live with what they configure: ``collection.settings``
(``CollectionSettings``) and ``cache.settings`` (``CacheSettings``).
"""
