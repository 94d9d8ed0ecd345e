"""The release scheduler (scheduler.py), the room panel messages it sends (panels.py) and the texts people read
(texts.py). Import ``server.release.scheduler.ReleaseScheduler``; this package imports nothing itself, so that the
repositories in server/db/ may use its texts."""
