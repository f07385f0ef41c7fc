"""Celery beat's scheduler: django-celery-beat's DatabaseScheduler, which reads the schedule from
the database as beat starts, after waiting for that database.

Without the wait, beat started while the database is down (a restart, a failover, a whole stack
starting at once) exits at once; under `make run-prod` supervisord starts it again, and
SUPERVISE_MAX_FAILURES such exits within SUPERVISE_FAILURE_WINDOW_SECONDS stop every process.
Waiting turns an outage into a late start. Once running, beat rides out an outage by itself: a
tick whose query fails is logged and skipped."""

from django_celery_beat.schedulers import DatabaseScheduler

from servicekit.connections import wait_for_the_database

# Longer than a restart or a failover; a database away longer than this is an outage that
# beat's exit (and its supervisor's) should report.
DATABASE_WAIT_SECONDS = 120


class DatabaseSchedulerThatWaits(DatabaseScheduler):
    def setup_schedule(self):
        wait_for_the_database(seconds=DATABASE_WAIT_SECONDS)
        super().setup_schedule()
