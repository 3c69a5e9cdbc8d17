"""Write the report JSON Schema file, or with --check fail if it is out of date."""

import argparse
import sys

from schemas.report import SCHEMA_FILE, report_json_schema


def main(argv: list[str] | None = None) -> int:
    """Write or check the committed JSON Schema file; return the exit status."""
    parser = argparse.ArgumentParser(prog="python -m schemas", description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if the file is out of date")
    args = parser.parse_args(argv)
    text = report_json_schema()
    if args.check:
        if not SCHEMA_FILE.is_file() or SCHEMA_FILE.read_text(encoding="utf-8") != text:
            print(f"{SCHEMA_FILE} is out of date; run `python -m schemas`", file=sys.stderr)
            return 1
        return 0
    SCHEMA_FILE.write_text(text, encoding="utf-8", newline="\n")
    print(f"wrote {SCHEMA_FILE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
