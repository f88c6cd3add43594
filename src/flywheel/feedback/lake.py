"""Preference data to and from the lake: Firehose events in, Parquet datasets with Glue tables out.

    read_events(names, "interactions")  → DataFrame of every JSON line under interactions/events/
    build_from_lake(names)              → PreferenceSet (flywheel.feedback.preferences), read drops included
    write_to_lake(prefs, names)         → preferences/preferences/data_version=<v>/ (Glue table `preferences`),
                                          preferences/unpaired/…, preferences/sft/… (tables `preferences_unpaired`,
                                          `preferences_sft`), and preferences/manifests/<v>.json
    read_pairs_from_lake(names, v)      → that version's pairs back, from the Glue table

A Firehose object holds records one per line; a line that is not a JSON object is counted
(`interactions.malformed_json`, ...) and skipped, never fatal. Writing a version twice replaces that
version's partition, so a rerun never duplicates rows. Nested columns (the prompt's messages) are
stored as Parquet lists of structs, which Glue and Athena read as `array<struct<role,content>>`.

The command, against whatever stack the AWS variables point at (`flywheel.local.stack` sets them):

    flywheel preferences --out runs/prefs [--heldout-fraction 0.1]   # lake → build → lake + a channel folder
"""

from __future__ import annotations

import argparse
import json
import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from flywheel.data.schemas import events_prefix, table_location
from flywheel.feedback.preferences import PreferenceSet, build_preferences
from flywheel.names import StackNames


def stack_names(env: dict | None = None) -> StackNames:
    env = os.environ if env is None else env
    return StackNames(project=env.get("FLYWHEEL_PROJECT", "flywheel"), stack=env.get("FLYWHEEL_STACK", "local"))


def _s3():
    import boto3

    return boto3.client("s3")  # built per call, after the stack set AWS_ENDPOINT_URL


def event_objects(names: StackNames, zone: str, dropped: Counter | None = None, *, newest_first: bool = False,
                  s3=None) -> Iterator[list[dict]]:
    """The records Firehose delivered into `zone`, one list per S3 object, oldest object first (or newest
    first). Firehose's error output is not read; a line that is not a JSON object is counted in `dropped`."""
    dropped = Counter() if dropped is None else dropped
    s3 = s3 or _s3()
    prefix = events_prefix(names, zone)
    keys = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=names.bucket, Prefix=prefix):
        keys += [(o["LastModified"], o["Key"]) for o in page.get("Contents", [])
                 if not o["Key"].startswith(f"{prefix}errors/")]
    for _, key in sorted(keys, reverse=newest_first):
        body = s3.get_object(Bucket=names.bucket, Key=key)["Body"].read().decode("utf-8", errors="replace")
        records = []
        for line in body.splitlines():
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                dropped[f"{zone}.malformed_json"] += 1
                continue
            if isinstance(record, dict):
                records.append(record)
            else:
                dropped[f"{zone}.not_an_object"] += 1
        yield records


def read_events(names: StackNames, zone: str, dropped: Counter | None = None) -> pd.DataFrame:
    """Every record Firehose delivered into `zone`, oldest object first."""
    return pd.DataFrame([r for records in event_objects(names, zone, dropped) for r in records])


def build_from_lake(names: StackNames, *, heldout_fraction: float = 0.1, salt: str = "") -> PreferenceSet:
    read_drops: Counter = Counter()
    interactions = read_events(names, "interactions", read_drops)
    feedback = read_events(names, "feedback", read_drops)
    prefs = build_preferences(interactions, feedback, heldout_fraction=heldout_fraction, salt=salt)
    prefs.dropped.update(read_drops)
    return prefs


def _tables(names: StackNames) -> dict[str, tuple[str, str]]:
    """kind → (Glue table, S3 path) of the three datasets."""
    base = names.table("preferences")
    return {"pairs": (base, table_location(names, "preferences")),
            "unpaired": (f"{base}_unpaired", f"{names.zone_uri('preferences')}unpaired/"),
            "sft": (f"{base}_sft", f"{names.zone_uri('preferences')}sft/")}


def write_to_lake(prefs: PreferenceSet, names: StackNames) -> dict:
    """Write the version's three datasets and its manifest; returns the manifest with their locations."""
    import awswrangler as wr

    manifest = prefs.manifest()
    locations = {}
    for kind, (table, path) in _tables(names).items():
        df = getattr(prefs, kind)
        locations[kind] = path
        if df.empty:
            continue
        df = df.assign(data_version=prefs.version)
        wr.s3.to_parquet(df, path=path, dataset=True, mode="overwrite_partitions", partition_cols=["data_version"],
                         database=names.glue_database, table=table)
    manifest["locations"] = locations
    key = f"{names.zone_prefix('preferences')}manifests/{prefs.version}.json"
    _s3().put_object(Bucket=names.bucket, Key=key, Body=json.dumps(manifest, indent=2, sort_keys=True).encode(),
                     ContentType="application/json")
    manifest["manifest_uri"] = f"s3://{names.bucket}/{key}"
    return manifest


def read_pairs_from_lake(names: StackNames, version: str, kind: str = "pairs") -> pd.DataFrame:
    import awswrangler as wr

    table, _ = _tables(names)[kind]
    return wr.s3.read_parquet_table(database=names.glue_database, table=table,
                                    partition_filter=lambda p: p["data_version"] == version)


def main(argv: list[str] | None = None) -> int:
    from flywheel.feedback.channel import write_pair_channel

    parser = argparse.ArgumentParser(prog="flywheel preferences", description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="folder for the preference channel (train/heldout JSONL)")
    parser.add_argument("--heldout-fraction", type=float, default=0.1)
    parser.add_argument("--salt", default="", help="changes which prompts are held out")
    args = parser.parse_args(argv)
    names = stack_names()
    prefs = build_from_lake(names, heldout_fraction=args.heldout_fraction, salt=args.salt)
    manifest = write_to_lake(prefs, names)
    write_pair_channel(args.out, prefs)
    (Path(args.out) / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True))
    print(json.dumps(manifest, indent=2, sort_keys=True))
    return 0
