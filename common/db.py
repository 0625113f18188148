"""Bulk inserts whose rows come back with their primary keys.

PostgreSQL and SQLite ≥ 3.35 return the new ids from `bulk_create`; on an older SQLite (Django still runs
there) the rows are read back by a unique column the caller filled in before the insert.
"""


def bulk_create_with_pks(model, rows, *, unique: str) -> list:
    """`model.objects.bulk_create(rows)` with every row's pk set; `unique` names a column whose values the
    rows already hold (a reference, a key, an order number)."""
    rows = model.objects.bulk_create(rows)
    if rows and rows[0].pk is None:
        pks = dict(model.objects.filter(**{f"{unique}__in": [getattr(r, unique) for r in rows]})
                   .values_list(unique, "pk"))
        for row in rows:
            row.pk = pks[getattr(row, unique)]
    return rows
