"""Bulk statements: inserts whose rows come back with their primary keys, and one UPDATE that writes a
different value to each row.

PostgreSQL and SQLite ≥ 3.35 return the new ids from `bulk_create`; on an older SQLite (Django still runs
there) the rows are read back by a unique column the caller filled in before the insert.
"""
from django.db import models


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


class PerRow(models.Expression):
    """`CASE pk WHEN %s THEN %s … ELSE <default> END`: in an UPDATE, a different value for each row, from
    [(pk, value), …]; rows not listed get `default` (an expression, e.g. F("column")), or NULL without one.

    Why not Case(When(pk=…, then=Value(…)), …): the ORM builds, resolves and compiles a filter per When,
    about 9 ms of CPU for 25 rows on the bench machine, a third of a renewal chunk's bookkeeping; here the
    primary key column is resolved once and the values go in as parameters, prepared as Value would
    (get_db_prep_value), so the statement updates the same rows with the same values.
    """

    def __init__(self, values, output_field, default=None):
        super().__init__(output_field=output_field)
        self.values = list(values)
        self.key = models.F("pk")
        self.default = default

    def get_source_expressions(self):
        return [self.key] if self.default is None else [self.key, self.default]

    def set_source_expressions(self, exprs):
        self.key = exprs[0]
        if self.default is not None:
            self.default = exprs[1]

    def as_sql(self, compiler, connection):
        key_sql, params = compiler.compile(self.key)
        params = list(params)
        prepare = self.output_field.get_db_prep_value
        sql = [f"CASE {key_sql}"]
        for pk, value in self.values:
            sql.append("WHEN %s THEN %s")
            params += [pk, prepare(value, connection)]
        if self.default is not None:
            default_sql, default_params = compiler.compile(self.default)
            sql.append(f"ELSE {default_sql}")
            params += list(default_params)
        sql.append("END")
        return " ".join(sql), params


def per_row(values, output_field, default=None):
    """The value of an UPDATE's column for rows [(pk, value), …]: a plain Value when every row gets the same
    one (and no default is needed), else PerRow's CASE."""
    if default is None and len({value for _, value in values}) == 1:
        return models.Value(values[0][1], output_field=output_field)
    return PerRow(values, output_field, default=default)


def without_nul(value):
    """`value` (JSON data) with every NUL in its strings and keys replaced by U+FFFD: PostgreSQL's jsonb
    cannot hold "\\u0000", and a provider may send one anywhere."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, dict):
        return {without_nul(key): without_nul(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [without_nul(item) for item in value]
    return value


class PayloadField(models.JSONField):
    """A JSONField for what a provider sent (an event's payload): stored as sent, except that NUL becomes
    U+FFFD (without_nul), so a hostile or broken payload is kept instead of failing the write."""

    def get_prep_value(self, value):
        return super().get_prep_value(without_nul(value))
