"""A site's ticket queue, inside its edge agent: the pure core and its persistence.

- :mod:`edge.queue.engine`: :class:`~edge.queue.engine.SiteQueue`, which issues and calls tickets and says what
  happened as ``queue.v1`` events (:mod:`devices.queue_contract`); no I/O, the time is passed in.
- :mod:`edge.queue.state`: the plain data it keeps (tickets of the day, windows, counters), which
  :mod:`edge.queue.store` saves in the outbox's SQLite file and loads again after a restart.
- :mod:`edge.queue.estimate`: honest wait estimates, as a range, from the queue and the service times seen so far.
- :mod:`edge.queue.closing`: when no window will serve a service again before its hall closes.
"""
