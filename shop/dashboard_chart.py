"""A bar chart drawn on the server as inline SVG: payments per day, one bar per route in each day's slot.

No JavaScript and no CDN: the admin page carries its chart as markup, so it works offline and under a
strict Content-Security-Policy. The geometry is computed here; templates/admin/dashboard.html draws it.
Each bar has a <title> (its day, route and count) and the page shows the same numbers as a table.
"""
from datetime import date

# Distinct on white and for the common colour-vision deficiencies (Okabe-Ito palette).
COLOURS = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00"]
WIDTH, HEIGHT, LEFT, BOTTOM, TOP = 720, 220, 36, 24, 8


def bar_chart(days: list[date], counts: dict[tuple[date, str], int]) -> dict:
    """Geometry for `counts` keyed (day, route) over `days`: bars, y-axis ticks, x labels and a legend."""
    routes = sorted({route for _, route in counts})
    peak = max(counts.values(), default=0)
    top = max(1, _nice(peak))
    plot_w, plot_h = WIDTH - LEFT - 8, HEIGHT - BOTTOM - TOP
    slot = plot_w / max(1, len(days))
    bar_w = max(1.0, (slot * 0.8) / max(1, len(routes)))
    colour = {route: COLOURS[i % len(COLOURS)] for i, route in enumerate(routes)}
    bars = []
    for i, day in enumerate(days):
        for j, route in enumerate(routes):
            n = counts.get((day, route), 0)
            if not n:
                continue
            h = plot_h * n / top
            bars.append({"x": round(LEFT + i * slot + slot * 0.1 + j * bar_w, 1), "y": round(TOP + plot_h - h, 1),
                         "w": round(bar_w, 1), "h": round(h, 1), "fill": colour[route],
                         "title": f"{day:%d %b}: {n} paid by {route}"})
    ticks = [{"y": round(TOP + plot_h - plot_h * v / top, 1), "label": v} for v in sorted({0, top // 2, top})]
    every = max(1, len(days) // 10)
    labels = [{"x": round(LEFT + i * slot + slot / 2, 1), "text": f"{day:%d %b}"}
              for i, day in enumerate(days) if i % every == 0]
    table = [{"day": day, "counts": [counts.get((day, route), 0) for route in routes]} for day in days]
    return {"width": WIDTH, "height": HEIGHT, "left": LEFT, "baseline": TOP + plot_h, "right": WIDTH - 8,
            "bars": bars, "ticks": ticks, "labels": labels, "label_y": HEIGHT - 6,
            "legend": [{"route": r, "fill": colour[r]} for r in routes], "routes": routes, "table": table,
            "total": sum(counts.values())}


def _nice(peak: int) -> int:
    """The smallest of 1, 2, 5 × 10^k that is at least `peak`, so axis labels are round numbers."""
    if peak <= 0:
        return 0
    scale = 1
    while True:
        for step in (1, 2, 5):
            if step * scale >= peak:
                return step * scale
        scale *= 10
