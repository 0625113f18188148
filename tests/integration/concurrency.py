"""Racing calls for the concurrency tests: each call in its own thread, all released at the same moment."""
import threading

from django.db import connections


def at_once(*calls, timeout=60) -> list:
    """Run every call (a no-argument callable) in its own thread, released together by a barrier; each
    thread uses its own database connections and closes them. Returns the calls' results in call order;
    an exception raised by a call is raised here once all have finished."""
    barrier, results, errors = threading.Barrier(len(calls)), [None] * len(calls), []

    def run(index, call):
        try:
            barrier.wait(10)
            results[index] = call()
        except BaseException as exc:  # noqa: BLE001 - handed to the test's thread below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(index, call)) for index, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    if errors:
        raise errors[0]
    return results
