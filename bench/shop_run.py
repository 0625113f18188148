"""Shop-run renewals (Klarna customer tokens) for bench/renewals.py --shop-run. Prints; asserts nothing.

N active subscriptions due a day ago, each with a Klarna customer token (one real checkout at the
emulator made the token; the other subscribers share it, which the emulator charges as often as asked).
Production settings: DEBUG=0, PostgreSQL with persistent connections, Celery on Redis. The beat task
`charge_due_subscriptions` runs in this process, opens the cycles by the batch and queues them by the chunk
(`charge_renewals`, RENEWAL_CHUNK cycles each); a Celery prefork worker with C processes charges them, one
`POST /customer-token/v1/tokens/{t}/order` each, against the emulator
answering after L ms. Wall runs from the beat's start to the last cycle paid; N·L/C is the time the
provider's latency alone needs with C charges in flight.

CPU: the shop's processes (this process's beat, the worker's parent and children, read from /proc),
the task bodies alone (time.process_time around each task, bench/sql_probe.py), and the whole machine
(/proc/stat, all cores: the database, Redis, the emulator and whatever else runs on the machine).
Statements: counted in the shop's processes, BEGIN and COMMIT included (bench/sql_probe.py).
"""
import os
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# The tasks that charge renewals (by the chunk, and one by one for a charge re-queued after an outage)
# and those that send their emails (by the chunk's batch, and one by one), as bench/sql_probe.py names them.
CHARGE_TASKS = ("payments.tasks.charge_renewals", "payments.tasks.charge_renewal")
EMAIL_TASKS = ("shop.tasks.send_emails", "shop.tasks.send_email")
sys.path.insert(0, str(ROOT))
TICK = os.sysconf("SC_CLK_TCK")
CREDENTIALS = {"KLARNA_USERNAME": "PK_TEST", "KLARNA_PASSWORD": "emulator-secret",
               "NEXT_API_TOKEN": "emulator-token", "NEXT_WEBHOOK_SECRET": "emulator-webhook-secret",
               "KLARNA_AUTHORIZE_API_KEY": "klarna_test_api_emulator",
               "KLARNA_AUTHORIZE_SIGNING_KEY": "emulator-klarna-signing-key",
               "MULTISAFEPAY_API_KEY": "msp-emulator-api-key"}


def add_arguments(parser):
    parser.add_argument("--n", type=int, default=1000, help="due subscriptions (shop-run mode)")
    parser.add_argument("--concurrency", type=int, default=16, help="Celery prefork processes C")
    parser.add_argument("--chunk", type=int, default=None,
                        help="cycles per charge_renewals task (default payments.tasks.RENEWAL_CHUNK)")
    parser.add_argument("--shop-database", default=os.environ.get("BENCH_SHOP_DATABASE", "bench_renewals_shop"))
    parser.add_argument("--shop-redis", default=os.environ.get("BENCH_SHOP_REDIS", "redis://127.0.0.1:6379/13"))


def main(args):
    import redis

    from tests.emulator_process import EmulatorProcess

    broker = redis.Redis.from_url(args.shop_redis)
    broker.flushdb()
    emulator = EmulatorProcess().start(env={"EMULATOR_RATE_LIMIT": "0", "EMULATOR_REQUEST_LOG_FILE": ""})
    worker = None
    try:
        worker = _run(emulator, broker, args)
    finally:
        if worker is not None:
            worker.terminate()
            worker.wait(30)
        emulator.stop()


def _run(emulator, broker, args):
    from provider_run import prepare_database

    env = dict(os.environ, **CREDENTIALS, DEBUG="0", SECRET_KEY="bench-" + uuid.uuid4().hex, CONN_MAX_AGE="60",
               DATABASE_URL=prepare_database(args.postgres, args.shop_database), CELERY_BROKER_URL=args.shop_redis,
               PROVIDER_BUDGET_URL=args.shop_redis, EMAIL_URL="memorymail://", LOG_LEVEL="WARNING",
               KLARNA_API_BASE_URL=emulator.url + "/klarna/", NEXT_API_BASE_URL=emulator.url + "/next/api/admin/",
               PAYMENT_ROUTES="next,klarna_payments", DJANGO_SETTINGS_MODULE="config.settings", ENV_FILE="")
    os.environ.update(env)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
    seed(emulator, args.n)
    # The seed's checkout queued its order-confirmation email, which lists the order's N subscriptions (the
    # subscribers share that order): seconds of CPU and 2·N statements that are no part of the renewals.
    broker.flushdb()
    emulator.control("PATCH", "/_emulator/config", json={"latency_ms": args.latency_ms})
    worker = start_worker(env, args.concurrency)
    try:
        run(worker, emulator.process.pid, broker, args)
    except BaseException:
        worker.terminate()
        worker.wait(30)
        raise
    return worker


def seed(emulator, n):
    """One Klarna checkout through the shop (the customer token), then N subscribers due a day ago."""
    from django.test import Client
    from django.utils import timezone

    from payments.models import Subscription
    from tests.factories import make_order, make_product
    from tests.integration.klarna_flow import pay_with_klarna

    beans = make_product(kind="subscription", interval="month", interval_count=1, price=1650, vat_rate_bp=900)
    pay_with_klarna(emulator, Client(), make_order(items=[(beans, 1)], shipping_fee=0))
    first = Subscription.objects.get()
    Subscription.objects.bulk_create(
        (Subscription(route=first.route, provider_id=f"{first.provider_id}-{i}", order_id=first.order_id,
                      email=f"subscriber{i}@example.com", interval="month", amount=first.amount,
                      currency=first.currency, customer_token=first.customer_token) for i in range(1, n)),
        batch_size=2000)
    Subscription.objects.update(next_renewal_at=timezone.now() - timedelta(days=1))


def start_worker(env, concurrency):
    log = os.environ.get("BENCH_WORKER_LOG")
    if log:  # each task's run time and each provider call's ("... -> 200 in 56 ms") in that file
        env = dict(env, LOG_LEVEL="INFO")
    worker = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "sql_probe.py"), "--pool", "prefork",
         "-c", str(concurrency), "-l", "info" if log else "warning",
         "--without-gossip", "--without-mingle", "--without-heartbeat"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=open(log, "w") if log else subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while len(_tree(worker.pid)) < concurrency + 1:  # every child forked and ready to take a message
        if worker.poll() is not None or time.monotonic() > deadline:
            worker.terminate()
            raise SystemExit("the Celery worker did not start")
        time.sleep(0.2)
    time.sleep(2)
    return worker


def run(worker, emulator_pid, broker, args):
    """Beat, charges, then the renewal emails the charges queued: wall to the last charge, CPU to the last
    email (the email sends are reported apart)."""
    import sql_probe
    from django.db import connection

    from payments import tasks as tasks_module
    from payments.models import PaymentAttempt
    from payments.tasks import charge_due_subscriptions
    from shop.models import EmailNotification

    if args.chunk:
        tasks_module.RENEWAL_CHUNK = args.chunk  # the beat runs here: its fan-out reads the constant
    sql_probe.install()
    connection.close()  # the beat's connection is counted from its first statement
    n, latency, c = args.n, args.latency_ms / 1000, args.concurrency
    paid = PaymentAttempt.objects.filter(kind="renewal", status__in=("authorized", "captured"))
    parts = {"shop": lambda: _tree(worker.pid), "emulator": lambda: _tree(emulator_pid),
             "PostgreSQL": lambda: _named("postgres"), "Redis": lambda: _named("redis-server")}
    before = {name: _cpu(pids()) for name, pids in parts.items()}
    machine_before = _machine()
    sql_before = sql_probe.statements
    started = time.perf_counter()
    beat_cpu = time.process_time()
    queued = charge_due_subscriptions.apply().get()
    beat_cpu = time.process_time() - beat_cpu
    beat_sql = sql_probe.statements - sql_before
    _wait(lambda: paid.count() >= n, started, "charged")
    wall = time.perf_counter() - started
    _wait(lambda: EmailNotification.objects.filter(kind="renewal_paid", state="sent").count() >= n, started,
          "mailed")
    time.sleep(1)  # the last tasks' probe lines
    machine = _machine() - machine_before
    used = {name: _cpu(pids()) - before[name] for name, pids in parts.items()}
    shop = used.pop("shop") + beat_cpu
    tasks = sql_probe.read(broker)
    empty = {"count": 0, "cpu_s": 0.0, "sql": 0}
    first = _sum(*(tasks.get(f"{name}:first", empty) for name in CHARGE_TASKS))
    charge = _sum(first, *(tasks.get(name, empty) for name in CHARGE_TASKS))
    email = _sum(*(tasks.get(f"{name}{suffix}", empty) for name in EMAIL_TASKS for suffix in ("", ":first")))
    steady = charge["cpu_s"] - first["cpu_s"]
    ideal = n * latency / c
    print(f"shop-run renewals: Klarna customer tokens, emulator latency L = {args.latency_ms} ms, "
          f"Celery prefork C = {c}, {tasks_module.RENEWAL_CHUNK} cycles per charge task, PostgreSQL + Redis, "
          f"DEBUG=0, {os.cpu_count()} CPU cores")
    print(f"charges {paid.count()} (beat queued {queued}; charge tasks run {int(charge['count'])}, "
          f"renewal email tasks run {int(email['count'])}, "
          f"emails sent {EmailNotification.objects.filter(kind='renewal_paid', state='sent').count()})")
    print(f"wall {wall:.2f} s")
    print(f"N·L/C {ideal:.2f} s")
    print(f"ratio wall/(N·L/C) {wall / ideal:.2f} (goal <= 1.25)")
    print(f"shop CPU ms/charge {(shop - email['cpu_s']) * 1000 / n:.2f} (goal <= 8; beat, worker parent and "
          f"children, without the email sends' {email['cpu_s'] * 1000 / n:.2f})")
    others = max(charge["count"] - first["count"], 1)
    print(f"task CPU ms/charge {(beat_cpu + charge['cpu_s']) * 1000 / n:.2f} (beat and charge task bodies; "
          f"beat {beat_cpu * 1000 / n:.2f}; a charge task of up to {tasks_module.RENEWAL_CHUNK} cycles "
          f"{steady * 1000 / others:.0f} ms, a process's first one {first['cpu_s'] * 1000 / max(first['count'], 1):.0f} "
          f"ms ({int(first['count'])} of them))")
    print(f"machine CPU ms/charge {machine * 1000 / n:.2f} (all {os.cpu_count()} cores to the last email, "
          f"whatever ran: shop {shop * 1000 / n:.2f}, "
          + ", ".join(f"{name} {seconds * 1000 / n:.2f}" for name, seconds in used.items()) + ")")
    print(f"statements/charge {(beat_sql + charge['sql']) / n:.2f} (goal <= 12; beat {beat_sql}, "
          f"charges {int(charge['sql'])}; the email sends {email['sql'] / n:.2f} more)")


def _wait(done, started, what, *, timeout=3600.0):
    while not done():
        if time.perf_counter() - started > timeout:
            raise SystemExit(f"not all {what} after {timeout:.0f} s")
        time.sleep(0.25)


def _tree(pid) -> list[int]:
    """`pid` and its descendants."""
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    parent = int(stat.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def _named(command) -> list[int]:
    """Every process whose command name is `command` (the database's backends, whoever they serve)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/comm") as comm:
                    if comm.read().strip() == command:
                        found.append(int(entry))
            except OSError:
                continue
    return found


def _sum(*counts) -> dict:
    return {key: sum(count[key] for count in counts) for key in ("count", "cpu_s", "sql")}


def _cpu(pids) -> float:
    """User + system CPU seconds of live processes (and of children they have waited for)."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += sum(int(value) for value in fields[11:15])  # utime, stime, cutime, cstime
    return total / TICK


def _machine() -> float:
    """Busy CPU seconds of the whole machine, all cores."""
    with open("/proc/stat") as stat:
        values = [int(v) for v in stat.readline().split()[1:]]
    idle = values[3] + values[4]  # idle, iowait
    return (sum(values[:8]) - idle) / TICK
