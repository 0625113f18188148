"""What bench/shop_run.py measures inside the shop's processes: SQL statements sent (BEGIN and COMMIT
included) and CPU time, per Celery task name. Not a benchmark by itself.

`install()` counts every statement Django executes on any connection, plus two for each transaction it
commits or rolls back (BEGIN and its end, which Django does not execute as statements; SQLite's
`BEGIN IMMEDIATE` is counted there instead). `python bench/sql_probe.py <celery worker arguments>` runs a
Celery worker of the shop with the counters on: after each task its process adds the task's statements and
CPU (time.process_time of the child that ran it) to the Redis hash `KEY` of the broker's db.
"""
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KEY = "bench:tasks"

statements = 0


def _execute(execute, sql, params, many, context):
    global statements
    if not sql.startswith("BEGIN"):
        statements += 1
    return execute(sql, params, many, context)


def install():
    """Count from now on, in this process and the processes it forks."""
    from django.db.backends.base.base import BaseDatabaseWrapper
    from django.db.backends.signals import connection_created

    def on_connect(sender, connection, **kwargs):
        if _execute not in connection.execute_wrappers:
            connection.execute_wrappers.append(_execute)

    connection_created.connect(on_connect, weak=False)

    def counted(original):
        def end(self):
            global statements
            if not self.get_autocommit():
                statements += 2
            return original(self)
        return end

    BaseDatabaseWrapper.commit = counted(BaseDatabaseWrapper.commit)
    BaseDatabaseWrapper.rollback = counted(BaseDatabaseWrapper.rollback)


def read(redis_client) -> dict:
    """{task name: {"count", "cpu_s", "sql"}} summed over the tasks the probed workers ran, each process's
    first task of a name apart under "<name>:first"."""
    tasks = {}
    for field, value in redis_client.hgetall(KEY).items():
        name, what = field.decode().rsplit(":", 1)
        tasks.setdefault(name, {"count": 0, "cpu_s": 0.0, "sql": 0})[what] = float(value)
    return tasks


def _worker(argv):
    import os

    import django

    sys.path.insert(0, str(ROOT))
    os.chdir(ROOT)
    django.setup()
    import redis
    from celery.signals import task_postrun, task_prerun
    from django.conf import settings

    from config.celery import app

    install()
    started = {}
    client = {}
    seen = set()

    @task_prerun.connect(weak=False)
    def before(task_id=None, **kwargs):
        started[task_id] = (time.process_time(), statements)

    @task_postrun.connect(weak=False)
    def after(task_id=None, task=None, **kwargs):
        cpu, sql = started.pop(task_id, (time.process_time(), statements))
        if "redis" not in client:  # one connection per worker process, made after the fork
            client["redis"] = redis.Redis.from_url(settings.CELERY_BROKER_URL)
        # A process's first task of a kind pays for its imports, connections and sessions: kept apart.
        prefix = task.name if task.name in seen else f"{task.name}:first"
        seen.add(task.name)
        pipe = client["redis"].pipeline(transaction=False)
        pipe.hincrby(KEY, f"{prefix}:count", 1)
        pipe.hincrbyfloat(KEY, f"{prefix}:cpu_s", time.process_time() - cpu)
        pipe.hincrby(KEY, f"{prefix}:sql", statements - sql)
        pipe.execute()

    app.worker_main(["worker", *argv])


if __name__ == "__main__":
    _worker(sys.argv[1:])
