"""The lake: Parquet datasets in one bucket, registered in Glue, and the named versions of the curated data.

Layout (zones from flywheel.names, table locations from flywheel.data.schemas):

    s3://<bucket>/curated/curated_documents/data_version=<v>/*.parquet    Glue table curated_documents
    s3://<bucket>/curated/manifests/<v>.json                             the version's manifest
    s3://<bucket>/shards/<v>/{tokenizer.json, shards.json, *.bin, manifest.json}   its shard channel
    s3://<bucket>/<zone>/<table>/<partition>=.../*.parquet                interactions, feedback, preferences

A dataset version is named `<name>-<hash>` by the cleaning job; its manifest records its inputs, counts,
drop reasons, content hash and time. A model's `config.json` carries the `data_version` it trained on,
so `Lake.lineage(model_dir)` walks from any model back to its manifest and its rows.

All I/O is awswrangler (Parquet + Glue) and boto3, through the standard AWS variables: against moto
server locally (flywheel.local.stack), against AWS in a job. Nothing here cleans or tokenises.

    lake = Lake(StackNames(stack="demo"))
    lake.publish("runs/shards", manifest)          # curated rows → Glue table, manifest, shards → S3
    lake.versions()                                # ['corpus-1a2b3c4d5e6f', ...]
    lake.read_version("corpus-1a2b3c4d5e6f")       # DataFrame of that version's curated rows
    lake.lineage("runs/model")                     # {"model_version", "data_version", "manifest", ...}
    lake.append("feedback", df)                    # any zone's table, partitioned as schemas.SCHEMAS says
"""

from __future__ import annotations

import json
from pathlib import Path

from flywheel.data.schemas import SCHEMAS, table_location
from flywheel.names import StackNames

MANIFESTS = "manifests/"


class LakeError(LookupError):
    """A version, table or model that the lake does not hold."""


class Lake:
    def __init__(self, names: StackNames, boto3_session=None):
        self.names = names
        self.session = boto3_session

    # -- generic tables -------------------------------------------------------------------------------
    def append(self, zone: str, df, mode: str = "append") -> dict:
        """Write `df` to the zone's Glue table (partition columns must be in `df`)."""
        import awswrangler as wr

        partitions = list(SCHEMAS[zone][1])
        missing = [p for p in partitions if p not in df.columns]
        if missing:
            raise ValueError(f"rows for the {zone} table lack its partition columns {missing}")
        return wr.s3.to_parquet(df, path=table_location(self.names, zone), dataset=True, mode=mode,
                                database=self.names.glue_database, table=self.names.table(zone),
                                partition_cols=partitions, boto3_session=self.session)

    def read(self, zone: str, columns=None, **partition_values):
        """Rows of a zone's table, optionally only the partitions matching `partition_values`."""
        import awswrangler as wr

        wanted = {k: str(v) for k, v in partition_values.items()}
        try:
            return wr.s3.read_parquet_table(
                database=self.names.glue_database, table=self.names.table(zone), columns=columns,
                partition_filter=(lambda p: all(p.get(k) == v for k, v in wanted.items())) if wanted else None,
                boto3_session=self.session)
        except wr.exceptions.NoFilesFound as exc:
            raise LakeError(f"no rows in {self.names.table(zone)} for {wanted or 'any partition'}") from exc

    # -- curated versions -----------------------------------------------------------------------------
    def _manifest_key(self, version: str) -> str:
        return f"{self.names.zone_prefix('curated')}{MANIFESTS}{version}.json"

    def shards_uri(self, version: str) -> str:
        return f"{self.names.zone_uri('shards')}{version}/"

    def publish(self, output: str | Path, manifest: dict, *, batch_rows: int = 20_000) -> dict:
        """Curated Parquet of `output` → the Glue table (its version's partition replaced), manifest, shards."""
        import awswrangler as wr
        import pyarrow.parquet as pq

        output = Path(output)
        version = manifest["data_version"]
        location = table_location(self.names, "curated")
        # Replace the version's partition: a rerun of the same version must not double its rows.
        wr.s3.delete_objects(f"{location}data_version={version}/", boto3_session=self.session)
        rows = 0
        for path in sorted((output / "curated").glob("*.parquet")):
            for batch in pq.ParquetFile(path).iter_batches(batch_size=batch_rows):
                df = batch.to_pandas()
                rows += len(df)
                wr.s3.to_parquet(df, path=location, dataset=True, mode="append",
                                 database=self.names.glue_database, table=self.names.table("curated"),
                                 partition_cols=["data_version"], boto3_session=self.session)
        shards_uri = self.shards_uri(version)
        channel_files = [p for p in sorted(output.iterdir()) if p.is_file()]
        for path in channel_files:
            wr.s3.upload(local_file=str(path), path=f"{shards_uri}{path.name}", boto3_session=self.session)
        record = dict(manifest, lake={"curated_table": f"{self.names.glue_database}.{self.names.table('curated')}",
                                      "curated_uri": f"{location}data_version={version}/", "rows": rows,
                                      "shards_uri": shards_uri})
        self._s3().put_object(Bucket=self.names.bucket, Key=self._manifest_key(version),
                              Body=json.dumps(record, indent=2, sort_keys=True).encode(),
                              ContentType="application/json")
        return record["lake"]

    def versions(self) -> list[str]:
        prefix = f"{self.names.zone_prefix('curated')}{MANIFESTS}"
        pages = self._s3().get_paginator("list_objects_v2").paginate(Bucket=self.names.bucket, Prefix=prefix)
        keys = [o["Key"] for page in pages for o in page.get("Contents", [])]
        return sorted(k[len(prefix):-len(".json")] for k in keys if k.endswith(".json"))

    def manifest(self, version: str) -> dict:
        s3 = self._s3()
        try:
            body = s3.get_object(Bucket=self.names.bucket, Key=self._manifest_key(version))["Body"].read()
        except s3.exceptions.NoSuchKey:
            raise LakeError(f"the lake of {self.names.prefix} has no data version {version!r}; "
                            f"it has {self.versions()}") from None
        return json.loads(body)

    def read_version(self, version: str, columns=None):
        """The curated rows of one data version (a DataFrame), read through its Glue table partition."""
        self.manifest(version)  # a clear LakeError for an unknown version, not an empty read
        return self.read("curated", columns=columns, data_version=version)

    def fetch_channel(self, version: str, dest: str | Path) -> Path:
        """Download the version's shard channel to `dest` (what SageMaker does for SM_CHANNEL_TRAIN)."""
        import awswrangler as wr

        dest = Path(dest)
        dest.mkdir(parents=True, exist_ok=True)
        uri = self.shards_uri(version)
        files = wr.s3.list_objects(uri, boto3_session=self.session)
        if not files:
            raise LakeError(f"no shard channel at {uri}")
        for path in files:
            wr.s3.download(path=path, local_file=str(dest / path[len(uri):]), boto3_session=self.session)
        return dest

    def lineage(self, model: str | Path | dict) -> dict:
        """From a model (artifact folder, its config.json, or that dict) to the data version it trained on."""
        if isinstance(model, dict):
            config = model
        else:
            path = Path(model)
            path = path / "config.json" if path.is_dir() else path
            if not path.is_file():
                raise LakeError(f"no model config at {path}")
            config = json.loads(path.read_text())
        version = config.get("data_version")
        if not version:
            raise LakeError("the model's config.json records no data_version: it cannot be traced to its data")
        manifest = self.manifest(version)
        return {"model_version": config.get("version"), "data_version": version,
                "created_at": manifest.get("created_at"), "inputs": manifest.get("inputs"),
                "documents_kept": manifest.get("documents_kept"), "content_hash": manifest.get("content_hash"),
                "curated_uri": manifest["lake"]["curated_uri"], "shards_uri": manifest["lake"]["shards_uri"],
                "manifest": manifest}

    def _s3(self):
        if self.session is not None:
            return self.session.client("s3")
        import boto3

        return boto3.client("s3")
