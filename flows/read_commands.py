"""The commands that read a home's warehouse or check dumps (SPEC §5): `sql`, `tables`, `describe`,
`check`, `status`, `validate`, `export`, `report`."""
from __future__ import annotations

import sys
from pathlib import Path

from core import identity
from store import storage
from store.errors import UserError
from store.settings import Settings


def cmd_sql(settings: Settings, args) -> int:
    from flows import queries
    rows, columns = queries.query(settings.warehouse, args.query)
    sys.stdout.write(queries.render(rows, columns, args.format))
    return 0


def cmd_tables(settings: Settings, args) -> int:
    from flows import queries
    sys.stdout.write(queries.tables_text(settings.warehouse))
    return 0


def cmd_describe(settings: Settings, args) -> int:
    from flows import queries
    sys.stdout.write(queries.describe_text(settings.warehouse, args.name))
    return 0


def cmd_check(settings: Settings, args) -> int:
    from flows import queries
    text, failed = queries.check_text(settings.warehouse)
    sys.stdout.write(text)
    return 1 if failed else 0


def cmd_status(settings: Settings, args) -> int:
    from flows import queries
    print(queries.status(settings.warehouse, as_json=args.json))
    return 0


def cmd_validate(settings: Settings, args) -> int:
    from flows.validation import held_dump_ids, validate_files
    if urls := [name for name in args.files if storage.is_url(name)]:
        raise UserError(f"validate reads local files, and {urls[0]} is a URL: copy the object here first "
                        "(a run reads an s3:// inbox itself)")
    args.files = [Path(name) for name in args.files]
    found = validate_files(args.files, settings.max_dump_bytes, identity.key_pattern(settings.profile_key_pattern),
                           held_dump_ids(settings.lake))
    for line in found.problems:
        print(identity.shown(line))
    dumps = len(args.files) - found.skipped - found.not_files
    others = {"skipped, not dumps": found.skipped, "not files": found.not_files}
    print(f"{dumps - found.invalid} of {dumps} dump files valid"
          + "".join(f"; {count} {what}" for what, count in others.items() if count), file=sys.stderr)
    return 1 if found.invalid or found.not_files else 0


def cmd_export(settings: Settings, args) -> int:
    from flows import queries
    if args.dir.exists() and not args.dir.is_dir():
        raise UserError(f"{args.dir} is a file: export writes a folder of files, pass a folder's name")
    written = queries.export(settings.warehouse, args.dir, args.format)
    print(f"wrote {len(written)} files to {args.dir}")
    if others := sorted(set(args.dir.glob(f"*.{args.format}")) - set(written)):   # kept: they may be the user's
        print(f"note: {args.dir} also holds {', '.join(p.name for p in others[:5])}{' …' if len(others) > 5 else ''}, "
              "which no table or mart of the warehouse has now (an earlier export's, of a mart since removed?)")
    return 0


def cmd_report(settings: Settings, args) -> int:
    from flows import queries
    from warehouse.report import render
    if args.out.is_dir():
        raise UserError(f"{args.out} is a folder: pass a file name, e.g. {args.out / 'report.html'}")
    if not args.out.parent.is_dir():
        raise UserError(f"no folder {args.out.parent} to write {args.out.name} in: create it first")
    with queries.open_read_only(settings.warehouse) as con:
        html = render(con, args.limit)
    tmp = args.out.with_name(f".{args.out.name}.tmp")
    tmp.write_text(html, encoding="utf-8")
    tmp.replace(args.out)
    print(f"wrote {args.out}")
    return 0


HANDLERS = {"sql": cmd_sql, "tables": cmd_tables, "describe": cmd_describe, "check": cmd_check, "status": cmd_status, "validate": cmd_validate, "export": cmd_export, "report": cmd_report}
