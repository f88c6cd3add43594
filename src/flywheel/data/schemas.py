"""Where each lake dataset lives and what its Glue table looks like: one place for infra, the local stack
and the writers.

A Glue table is a Parquet dataset under `s3://<bucket>/<zone>/<table>/`, partitioned by the keys below;
the Firehose streams land their raw JSON beside it under `s3://<bucket>/<zone>/events/`, so a table
never mixes raw JSON with its Parquet files. Column lists are the columns every writer agrees on;
awswrangler adds further columns to the catalog when a writer appends them (schema evolution), so a
table can grow without a migration here.

This module only builds strings and dicts: no boto3, no Pulumi.

    table_location(names, "curated")   # 's3://flywheel-local-lake/curated/curated_documents/'
    glue_table_input(names, "curated") # the TableInput for glue.create_table
"""

from __future__ import annotations

from flywheel.names import TABLES, StackNames

# zone -> (columns, partition keys); types are Glue/Hive types.
SCHEMAS: dict[str, tuple[dict[str, str], dict[str, str]]] = {
    "curated": (
        {"doc_id": "string", "text": "string", "source": "string", "n_chars": "bigint",
         "content_hash": "string"},
        {"data_version": "string"},
    ),
    "interactions": ({"completion_id": "string"}, {"dt": "string"}),
    "feedback": ({"completion_id": "string", "feedback_id": "string"}, {"dt": "string"}),
    "preferences": ({"pair_id": "string", "split": "string"}, {"data_version": "string"}),
}

# Zones that Firehose streams deliver into (raw JSON, one object per batch).
FIREHOSE_ZONES = ("interactions", "feedback")


def table_location(names: StackNames, zone: str) -> str:
    return f"{names.zone_uri(zone)}{TABLES[zone]}/"


def events_prefix(names: StackNames, zone: str) -> str:
    """The key prefix (no bucket) where the zone's Firehose stream writes its raw records."""
    return f"{names.zone_prefix(zone)}events/"


def glue_table_input(names: StackNames, zone: str) -> dict:
    columns, partitions = SCHEMAS[zone]
    return {
        "Name": names.table(zone),
        "TableType": "EXTERNAL_TABLE",
        "Parameters": {"classification": "parquet", "compressionType": "snappy", "EXTERNAL": "TRUE"},
        "PartitionKeys": [{"Name": k, "Type": t} for k, t in partitions.items()],
        "StorageDescriptor": {
            "Columns": [{"Name": k, "Type": t} for k, t in columns.items()],
            "Location": table_location(names, zone),
            "InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
            "OutputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
            "Compressed": True,
            "SerdeInfo": {"SerializationLibrary":
                          "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe",
                          "Parameters": {"serialization.format": "1"}},
            "StoredAsSubDirectories": False,
        },
    }
