"""The floor for bench/pages.py: a WSGI response with no Django and no database, served by the same
gunicorn command as the shop, so a page's ratio to it is what the shop adds on top of gunicorn and HTTP."""


def application(environ, start_response):
    body = b"<!doctype html><title>ok</title><p>ok</p>"
    start_response("200 OK", [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(body)))])
    return [body]
