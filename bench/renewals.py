#!/usr/bin/env python
"""Provider-run renewal read-back (29 Next) by the page, under 29 Next's rate limit. Prints; asserts nothing.

N subscriptions at the emulator are mirrored by the shop as due (renewal date passed). The beat task
`check_due_subscriptions` queues one sweep per route; a Celery worker reads `GET /subscriptions/` page by
page (cursor) through the shared rate budget (Redis), writing only what changed. The emulator answers after
L ms and enforces 4 calls/s per token (429 beyond). Per N it prints the provider calls (goal: at most N/40),
the 429s met, and the wall time from the beat task to the last subscription read, with its ratio to the
time the rate limit alone allows for those calls (calls / rate; goal: ratio at most 1.25).

Needs PostgreSQL and Redis: a database `wt_perf_bench` (dropped and created; --database) and Redis db 12
(emptied; --redis). Usage: python bench/renewals.py [--sizes 1000,10000] [--latency-ms 50]

`--shop-run` measures the renewals the shop charges itself instead (Klarna customer tokens, one POST each;
bench/shop_run.py): N due charges (--n) through a prefork worker of C processes (--concurrency) against
latency L, in its own database `bench_renewals_shop` and Redis db 13.
Usage: python bench/renewals.py --shop-run [--n 10000] [--concurrency 16] [--latency-ms 50]
"""
import argparse
import os
import time

import shop_run
from provider_run import add_arguments, mirror_due, request_mark, requests_since, start, wait_until_read


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--shop-run", action="store_true", help="shop-run renewals (Klarna customer tokens)")
    add_arguments(parser, database="wt_perf_bench")
    shop_run.add_arguments(parser)
    args = parser.parse_args()
    if args.shop_run:
        shop_run.main(args)
        return
    stack = start(args)
    try:
        print(f"provider-run renewals: emulator latency L = {args.latency_ms} ms, rate limit {args.rate_limit}/s "
              f"per token (enforced), one Celery worker, PostgreSQL + Redis, {os.cpu_count()} CPU cores")
        for n in (int(size) for size in args.sizes.split(",")):
            run(stack, n, args)
    finally:
        stack.stop()


def run(stack, n, args):
    from django.utils import timezone

    from payments.tasks import check_due_subscriptions

    first_pk = mirror_due(stack, n, args.latency_ms)
    # The bench's own setup called the API with the shop's token outside the shop's budget (seed_one's
    # order); let the emulator's one-second window forget it, so the sweep meets only its own limit.
    time.sleep(1.1)
    mark = request_mark(stack.emulator)
    started_at = timezone.now()
    started = time.perf_counter()
    due = check_due_subscriptions.apply().get()
    wait_until_read(first_pk, started_at)
    wall = time.perf_counter() - started
    calls = requests_since(stack.emulator, mark)
    sent = len(calls)
    limited = sum(1 for c in calls if c["status"] == 429)
    allowed = sent / args.rate_limit
    print(f"N = {n:>6}: {due} due, provider calls {sent} (goal <= N/40 = {n // 40}), 429s {limited}")
    print(f"N = {n:>6}: wall {wall:7.2f} s, rate limit alone {allowed:7.2f} s, "
          f"ratio {wall / allowed:5.2f} (goal <= 1.25)")


if __name__ == "__main__":
    main()
