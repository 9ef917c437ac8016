"""Glue Python shell job: turn the landing zone's CSV drops into Parquet before Contrail lands them.

For each ready marker `<landing>/_ready/YYYY-MM-DD.json`, every CSV file of `<landing>/<table>/dt=<day>/`
(flights, weather) becomes one Parquet file `<landing>/_converted/<table>/dt=<day>/part-0.parquet`,
written to a temporary key and copied into place last. `land_drops` reads the converted folder when
it exists (and removes it once the day is landed); the CSV files stay as they were dropped.

    --landing_url s3://bucket/landing   (Glue passes its own arguments too; they are ignored)

Uploaded by `python -m contrail.platforms.aws.deploy` to <code uri>/glue/convert_drops.py. Needs
pandas, pyarrow and s3fs (`--additional-python-modules s3fs`).
"""

from __future__ import annotations

import argparse
import io
import sys

TABLES = ("flights", "weather")
TYPES = {"tailnum": "string", "time_hour": "string"}


def convert(landing_url: str, storage_options: dict | None = None) -> list[str]:
    import pandas as pd
    import s3fs

    fs = s3fs.S3FileSystem(**(storage_options or {}))
    root = landing_url.rstrip("/").removeprefix("s3://")
    written = []
    for marker in sorted(fs.glob(f"{root}/_ready/*.json")):
        day = marker.rsplit("/", 1)[-1].removesuffix(".json")
        for table in TABLES:
            files = sorted(f for f in fs.find(f"{root}/{table}/dt={day}") if f.endswith(".csv"))
            if not files:
                continue
            frame = pd.concat([pd.read_csv(io.BytesIO(fs.cat(f)), dtype=TYPES) for f in files], ignore_index=True)
            target = f"{root}/_converted/{table}/dt={day}/part-0.parquet"
            buffer = io.BytesIO()
            frame.to_parquet(buffer, index=False)
            fs.pipe(target + ".tmp", buffer.getvalue())
            fs.copy(target + ".tmp", target)
            fs.rm(target + ".tmp")
            written.append(f"s3://{target} ({len(frame)} rows from {len(files)} CSV file(s))")
    return written


def main(argv: list[str] | None = None, storage_options: dict | None = None) -> list[str]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--landing_url", required=True)
    args, _ = parser.parse_known_args(sys.argv[1:] if argv is None else argv)
    written = convert(args.landing_url, storage_options)
    for line in written:
        print(f"converted {line}")
    return written


if __name__ == "__main__":
    main()
