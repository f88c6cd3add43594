"""The cleaning job: raw text/JSONL/Parquet → curated Parquet + manifest.json + tokenizer + token shards.

Built on datatrove. Seven stages, each a `LocalPipelineExecutor` over `tasks` ranks (`workers` at once):

    1 clean             RawReader → Normalize → Gopher quality → Gopher repetition → C4 → FineWeb
                        → RedactPII → ToxicityFilter → work/clean/<rank>.jsonl.gz
    2 exact signatures  datatrove ExactDedupSignature over work/clean
    3 exact find        datatrove ExactFindDedups                                  (1 task)
    4 exact filter      ExactDedupFilter → work/unique/<rank>.jsonl.gz → MinhashDedupSignature
    5 minhash buckets   MinhashDedupBuckets                                        (one task per bucket)
    6 minhash cluster   MinhashDedupCluster                                        (1 task)
    7 minhash filter    MinhashDedupFilter → <output>/curated/<rank>.parquet

then, in this process: the manifest, the tokenizer (trained on the curated text, or `--tokenizer`
given), and the train/val shards (flywheel.data.shards) — so `<output>` as it stands is a channel for
`training_jobs/train.py` (SM_CHANNEL_TRAIN). Each stage streams documents one at a time: memory is
bounded by one record (`max_record_bytes`), MinHash's per-bucket sort buffers and the tokenizer's
vocabulary counts, not by the input size. The dedup stages address documents by (rank, position), and
the reader shards files contiguously, so N tasks keep exactly the documents 1 task keeps.

Every record read is counted once in `documents_in` and either kept or dropped under a reason
`<step>.<reason>` (`read.invalid_json`, `gopher_quality.gopher_short_doc`, `exact_dedup.duplicate`,
`minhash.near_duplicate`, `toxicity.toxic_harassment`, ...): documents_in = documents_kept + Σ dropped,
checked before the manifest is written. The same counts are printed as the catalogue's EMF lines
(`DocumentsIn`, `DocumentsKept`, `DocumentsDropped` by `Reason`), which CloudWatch Logs publishes.

The data version is `<name>-<hash>` of the inputs' content and the config: the same inputs and config
give the same version (and a rerun resumes the finished stages of an interrupted one from `--work-dir`).

    flywheel prepare-data --input raw/ --output runs/shards [--tasks 4 --workers 2] [--config c.json]
    flywheel prepare-data --input s3://bucket/raw/ --output out/ --lake-stack demo   # + the lake, Glue
    python training_jobs/prepare_data.py                                 # the SageMaker Processing paths

With `workers` > 1 each stage's tasks run in processes started by datatrove (forkserver): a script that
calls `prepare()` itself needs the usual `if __name__ == "__main__":` guard, as with any multiprocessing.

On several SageMaker Processing instances (`--hosts N --host-index i`, read from
/opt/ml/config/resourceconfig.json by the entry point) each instance runs its share of every stage's
ranks; `--work-dir` must then be shared (S3), and instance 0 alone runs the single-task stages and
writes the manifest and shards. The instances meet on S3 through datatrove's completion markers
(`<work>/logs/<stage>/completions/<rank>`, written when a rank finishes): before a stage starts, each
instance polls until every rank of the stage before it is marked, on any instance (`DEPENDENCY_POLL_S`;
datatrove's own `depends` wait sleeps 2 minutes between looks). The curated Parquet of every rank goes
to `<work>/curated/`, so instance 0 can wait for the last stage's markers and copy all of it into its
`<output>/curated/` before it counts, summarises and shards. A failed instance leaves its ranks
unmarked: the others wait until the Processing job's MaxRuntimeInSeconds ends it, and a rerun with the
same `--work-dir` redoes only the unmarked ranks.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

MANIFEST_FILE = "manifest.json"
CURATED_DIR = "curated"
DEFAULT_REASON = {"exact_dedup": "duplicate", "minhash": "near_duplicate"}
CLUSTERS_IN_MANIFEST = 200  # the manifest lists this many clusters of each kind, and counts them all
DEPENDENCY_POLL_S = 2.0  # seconds between looks at another instance's completion markers (one S3 LIST each)


@dataclass(frozen=True)
class CleaningConfig:
    """Every knob of the job; `--config file.json` overrides any of them (a filter set to null is off).

    Filter sections are keyword arguments of the datatrove filter of the same name. The defaults are
    Gopher's and C4's, loosened where reference text (docstrings, manuals) would otherwise fail rules
    written for web pages: fewer minimum words, no terminal-punctuation or curly-bracket rule.
    """

    max_record_bytes: int = 4 << 20
    fix_mojibake: bool = True
    unicode_form: str = "NFC"
    max_invalid_fraction: float = 0.05
    min_chars: int = 20
    gopher_quality: dict | None = field(default_factory=lambda: {
        "min_doc_words": 20, "max_doc_words": 100_000, "max_symbol_word_ratio": 0.1,
        "max_non_alpha_words_ratio": 0.6, "min_stop_words": 2})
    gopher_repetition: dict | None = field(default_factory=dict)
    c4: dict | None = field(default_factory=lambda: {
        "filter_no_terminal_punct": False, "filter_curly_bracket": False, "min_num_sentences": -1,
        "min_words_per_line": -1, "split_paragraph": True})
    fineweb: dict | None = field(default_factory=lambda: {"line_punct_thr": 0.0, "short_line_thr": 0.999,
                                                          "char_duplicates_ratio": 0.1})
    pii: bool = True
    toxicity: bool = True
    toxicity_threshold: float | None = None  # None: the scorer's own `flagged`
    exact_dedup: bool = True
    minhash: dict | None = field(default_factory=lambda: {"n_grams": 5, "num_buckets": 14,
                                                          "hashes_per_bucket": 8})
    vocab_size: int = 2048
    tokenizer_max_docs: int = 200_000
    val_fraction: float = 0.05
    val_min_chars: int = 40_000
    shard_tokens: int = 1 << 24
    kind: str = "auto"  # "pretrain", "sft" or "auto" (sft when most kept records are chats)

    @classmethod
    def from_dict(cls, data: dict) -> CleaningConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown cleaning config keys {unknown}; known: {sorted(known)}")
        return cls(**data)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


class PrepareError(RuntimeError):
    """The job cannot run: no input, an output that already holds a channel, a broken count."""


def _doc_text(doc) -> str:  # datatrove's ExactDedupConfig needs a picklable content getter
    return doc.text


def fingerprint_inputs(folder) -> tuple[str, list[dict]]:
    """A hash of every input file's path and content (S3: its ETag), and the list of inputs."""
    files = sorted(folder.list_files(recursive=True))
    files = [f for f in files if not any(p.startswith((".", "_")) for p in f.split("/"))]
    digest = hashlib.sha256()
    inputs = []
    for path in files:
        info = folder.info(path)
        size = int(info.get("size") or 0)
        etag = info.get("ETag") or info.get("etag")
        if etag:
            content = str(etag).strip('"')
        else:
            h = hashlib.sha256()
            with folder.open(path, "rb") as f:
                while chunk := f.read(1 << 20):
                    h.update(chunk)
            content = h.hexdigest()
        inputs.append({"path": path, "bytes": size, "sha256": content})
        digest.update(f"{path}\0{size}\0{content}\n".encode())
    return digest.hexdigest(), inputs


def _build_stages(cfg: CleaningConfig, input_folder, work: str, curated: str, data_version: str, *,
                  tasks: int, workers: int, hosts: int, host_index: int, start_method: str):
    """The executors, chained by `depends`: ([(stage, executor)], {stage: the manifest's name of each step})."""
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.dedup import MinhashDedupBuckets, MinhashDedupCluster, MinhashDedupFilter
    from datatrove.pipeline.dedup.exact_dedup import (
        ExactDedupConfig,
        ExactDedupFilter,
        ExactDedupSignature,
        ExactFindDedups,
    )
    from datatrove.pipeline.dedup.minhash import MinhashConfig, MinhashDedupSignature
    from datatrove.pipeline.filters import (
        C4QualityFilter,
        FineWebQualityFilter,
        GopherQualityFilter,
        GopherRepetitionFilter,
    )
    from datatrove.pipeline.writers import JsonlWriter

    from flywheel.data.steps import (
        CompleteMinhashRemovals,
        CuratedWriter,
        Normalize,
        PlainTextOnly,
        RankJsonlReader,
        RawReader,
        RedactPII,
        RegexWordTokenizer,
        ToxicityFilter,
    )

    words = RegexWordTokenizer()

    def executor(name, pipeline, n, depends=None):
        # Split this stage's ranks across instances; single-task stages run on instance 0 alone.
        per_host = -(-n // hosts)
        offset = min(host_index * per_host, n)
        local = max(0, min(per_host, n - offset))
        return name, LocalPipelineExecutor(pipeline=pipeline, tasks=n, workers=min(workers, max(local, 1)),
                                           logging_dir=f"{work}/logs/{name}", depends=depends,
                                           local_tasks=local, local_rank_offset=offset,
                                           start_method=start_method)

    def reader(folder):
        return RankJsonlReader(folder, add_file_path=False)

    clean = [RawReader(input_folder, max_record_bytes=cfg.max_record_bytes),
             Normalize(fix_mojibake=cfg.fix_mojibake, form=cfg.unicode_form,
                       max_invalid_fraction=cfg.max_invalid_fraction, min_chars=cfg.min_chars)]
    quality = {"gopher_quality": (GopherQualityFilter, cfg.gopher_quality),
               "gopher_repetition": (GopherRepetitionFilter, cfg.gopher_repetition),
               "c4": (C4QualityFilter, cfg.c4), "fineweb": (FineWebQualityFilter, cfg.fineweb)}
    names = ["read", "normalize"]
    for name, (cls, kwargs) in quality.items():
        if kwargs is not None:
            clean.append(PlainTextOnly(cls(language=words, **kwargs)))
            names.append(name)
    if cfg.pii:
        clean.append(RedactPII())
        names.append("pii")
    if cfg.toxicity:
        clean.append(ToxicityFilter(threshold=cfg.toxicity_threshold))
        names.append("toxicity")
    clean.append(JsonlWriter(f"{work}/clean", output_filename="${rank}.jsonl.gz"))
    names.append("write")
    step_names = {"clean": names}

    stages = [executor("clean", clean, tasks)]
    unique_source = f"{work}/clean"
    if cfg.exact_dedup:
        exact_cfg = ExactDedupConfig(content_getter=_doc_text)
        stages.append(executor("exact_signatures", [reader(f"{work}/clean"),
                                                    ExactDedupSignature(f"{work}/exact_sigs", exact_cfg)],
                               tasks, stages[-1][1]))
        stages.append(executor("exact_find", [ExactFindDedups(f"{work}/exact_sigs", f"{work}/exact_dups",
                                                              exact_cfg)], 1, stages[-1][1]))
    step4 = [reader(f"{work}/clean")]
    names4 = ["read"]
    if cfg.exact_dedup:
        step4.append(ExactDedupFilter(f"{work}/exact_dups", exact_cfg, exclusion_writer=JsonlWriter(
            f"{work}/removed_exact", output_filename="${rank}.jsonl.gz")))
        names4.append("exact_dedup")
    step4.append(JsonlWriter(f"{work}/unique", output_filename="${rank}.jsonl.gz"))
    names4.append("write")
    if cfg.minhash is not None:
        mh = MinhashConfig(**cfg.minhash)
        step4.append(MinhashDedupSignature(f"{work}/minhash_sigs", config=mh, language=words))
        names4.append("minhash_signature")
    step_names["exact_filter"] = names4
    stages.append(executor("exact_filter", step4, tasks, stages[-1][1]))
    unique_source = f"{work}/unique"
    step7 = [reader(unique_source)]
    names7 = ["read"]
    if cfg.minhash is not None:
        stages.append(executor("minhash_buckets", [MinhashDedupBuckets(f"{work}/minhash_sigs",
                                                                       f"{work}/minhash_buckets", config=mh)],
                               mh.num_buckets, stages[-1][1]))
        stages.append(executor("minhash_cluster", [MinhashDedupCluster(
            f"{work}/minhash_buckets", f"{work}/minhash_clusters", config=mh, save_cluster_id=True),
            CompleteMinhashRemovals(f"{work}/minhash_clusters", tasks)], 1, stages[-1][1]))
        step7.append(MinhashDedupFilter(f"{work}/minhash_clusters", load_cluster_ids=True, exclusion_writer=(
            JsonlWriter(f"{work}/removed_near", output_filename="${rank}.jsonl.gz"))))
        names7.append("minhash")
    step7.append(CuratedWriter(curated, data_version=data_version))
    names7.append("write")
    step_names["minhash_filter"] = names7
    stages.append(executor("minhash_filter", step7, tasks, stages[-1][1]))
    return stages, step_names


def _wait_for_stage(stage: str, executor, log, poll_s: float = DEPENDENCY_POLL_S) -> None:
    """Block until every rank of `executor`'s stage is marked complete, whichever instance ran it."""
    waited = False
    while left := executor.get_incomplete_ranks(skip_completed=True):
        if not waited:
            log(f"  waiting for {len(left)}/{executor.world_size} ranks of {stage} on other instances")
            waited = True
        time.sleep(poll_s)


def _copy_curated(work, curated: Path) -> None:
    """Every rank's curated Parquet from the shared `<work>/curated/` into the local channel folder."""
    for name in sorted(work.list_files(subdirectory=CURATED_DIR, glob_pattern="*.parquet")):
        with work.open(name, "rb") as src, open(curated / Path(name).name, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)


def _stage_stats(work, stage: str) -> list[dict]:
    """Per step of `stage`: its stats summed over every rank's stats file (`work`: a datatrove DataFolder)."""
    merged: list[Counter] = []
    sub = f"logs/{stage}/stats"
    files = sorted(work.list_files(subdirectory=sub, glob_pattern="*.json")) if work.isdir(sub) else []
    for path in files:
        with work.open(path, "rt") as f:
            steps = json.load(f)
        for i, step in enumerate(steps):
            while len(merged) <= i:
                merged.append(Counter())
            for key, value in (step.get("stats") or {}).items():
                merged[i][key] += value["total"] if isinstance(value, dict) else value
    return [dict(c) for c in merged]


def count_metric_lines(documents_in: int, kept: int, dropped: dict[str, int]) -> list[str]:
    """The catalogue's data metrics as EMF lines, for CloudWatch Logs to publish from the job's log:
    DocumentsIn, DocumentsKept, and DocumentsDropped once per `<step>.<reason>`."""
    from flywheel.observability.catalogue import emf_line

    lines = [emf_line("DocumentsIn", documents_in), emf_line("DocumentsKept", kept)]
    lines += [emf_line("DocumentsDropped", n, {"Reason": reason}) for reason, n in sorted(dropped.items())]
    return lines


def collect_counts(work, step_names: dict[str, list[str]]) -> tuple[int, dict[str, int], dict[str, int]]:
    """(documents_in, dropped reason → count, PII type → count) from every stage's datatrove stats."""
    documents_in = 0
    dropped: Counter = Counter()
    pii: Counter = Counter()
    for stage, names in step_names.items():
        for name, stats in zip(names, _stage_stats(work, stage)):
            if stage == "clean" and name == "read":
                documents_in += stats.get("documents_in", 0)
            reasons = {k[len("dropped_"):]: v for k, v in stats.items() if k.startswith("dropped_")}
            for reason, n in reasons.items():
                dropped[f"{name}.{reason}"] += n
            rest = stats.get("dropped", 0) - sum(reasons.values())
            if rest > 0:
                dropped[f"{name}.{DEFAULT_REASON.get(name, 'unspecified')}"] += rest
            for key, n in stats.items():
                if key.startswith("pii_"):
                    pii[key[4:]] += n
    return documents_in, dict(sorted(dropped.items())), dict(sorted(pii.items()))


def _read_removed(work, name: str):
    """Documents a dedup stage removed (its exclusion writer's files under `work/name`)."""
    files = sorted(work.list_files(subdirectory=name, glob_pattern="*.jsonl.gz")) if work.isdir(name) else []
    for path in files:
        with work.open(path, "rt", compression="gzip", encoding="utf-8") as f:
            for line in f:
                yield json.loads(line)


def iter_curated(curated: Path, columns=None, batch_rows: int = 512):
    """Curated rows in (rank, position) order, a batch at a time (dicts)."""
    import pyarrow.parquet as pq

    for path in sorted(curated.glob("*.parquet")):
        for batch in pq.ParquetFile(path).iter_batches(batch_size=batch_rows, columns=columns):
            yield batch.to_pylist()


def _summarise_curated(curated: Path, removed_exact_hashes: set[str]) -> dict:
    """One pass over the curated Parquet: counts, kinds, chars, content hash, cluster representatives."""
    h = hashlib.sha256()
    kept = chars = 0
    kinds: Counter = Counter()
    kept_by_cluster: dict[int, str] = {}
    kept_by_hash: dict[str, str] = {}
    for rows in iter_curated(curated, ["doc_id", "content_hash", "n_chars", "kind", "dup_cluster"]):
        for row in rows:
            kept += 1
            chars += row["n_chars"]
            kinds[row["kind"]] += 1
            h.update(f"{row['doc_id']}\0{row['content_hash']}\n".encode())
            if row["dup_cluster"] >= 0:
                kept_by_cluster[row["dup_cluster"]] = row["doc_id"]
            if row["content_hash"] in removed_exact_hashes:
                kept_by_hash[row["content_hash"]] = row["doc_id"]
    return {"kept": kept, "chars": chars, "kinds": dict(kinds), "content_hash": h.hexdigest(),
            "kept_by_cluster": kept_by_cluster, "kept_by_hash": kept_by_hash}


def _clusters(work, summary: dict) -> dict:
    exact: dict[str, list[str]] = defaultdict(list)
    for record in _read_removed(work, "removed_exact"):
        exact[hashlib.sha1(record["text"].encode()).hexdigest()].append(record["id"])
    near: dict[int, list[str]] = defaultdict(list)
    for record in _read_removed(work, "removed_near"):
        near[int(record.get("metadata", {}).get("minhash_cluster_id", -1))].append(record["id"])
    exact_list = [{"kept": summary["kept_by_hash"].get(k), "removed": v} for k, v in exact.items()]
    near_list = [{"cluster": c, "kept": summary["kept_by_cluster"].get(c), "removed": v}
                 for c, v in sorted(near.items())]
    return {"exact": exact_list[:CLUSTERS_IN_MANIFEST], "exact_total": len(exact_list),
            "near": near_list[:CLUSTERS_IN_MANIFEST], "near_total": len(near_list)}


def _split_of(doc_id: str, val_fraction: float) -> str:
    bucket = int.from_bytes(hashlib.sha1(doc_id.encode()).digest()[:4], "big") / 2 ** 32
    return "val" if bucket < val_fraction else "train"


def write_shards(output: Path, curated: Path, *, kind: str, data_version: str, tokenizer, kept: int,
                 val_fraction: float, shard_tokens: int, log=print) -> dict:
    """Tokenise the curated rows of `kind` into train/val shards of the channel at `output`."""
    from flywheel.data.shards import ChannelWriter

    want = "chat" if kind == "sft" else "text"
    written = skipped = 0
    val_docs = 0
    index = 0
    next_log = 10_000
    with ChannelWriter(output, tokenizer, kind=kind, data_version=data_version, shard_tokens=shard_tokens,
                       extra={"manifest": MANIFEST_FILE}) as writer:
        for rows in iter_curated(curated, ["doc_id", "text", "kind", "messages"]):
            rows_of_kind = [r for r in rows if r["kind"] == want]
            skipped += len(rows) - len(rows_of_kind)
            for row in rows_of_kind:
                index += 1
                split = _split_of(row["doc_id"], val_fraction)
                if split == "train" and val_docs == 0 and index == kept and kept > 1:
                    split = "val"  # a non-empty validation split whenever there are two documents
                val_docs += split == "val"
                if kind == "sft":
                    ids, mask = tokenizer.encode_chat(json.loads(row["messages"]))
                    writer.add(split, ids, mask)
                else:
                    writer.add(split, tokenizer.encode(row["text"]))
                written += 1
            if written >= next_log:
                log(f"  shards: {written} documents tokenised")
                next_log += 10_000
    meta = writer.meta
    meta["skipped_other_kind"] = skipped
    return meta


def prepare(input_path: str, output: str | Path, cfg: CleaningConfig | None = None, *, name: str = "corpus",
            data_version: str | None = None, tasks: int | None = None, workers: int | None = None,
            work_dir: str | None = None, keep_work: bool = False, tokenizer_path: str | None = None,
            hosts: int = 1, host_index: int = 0, start_method: str = "forkserver", lake=None,
            log=print) -> dict:
    """Run the job; returns the manifest (also written to `<output>/manifest.json`)."""
    from datatrove.io import get_datafolder

    from flywheel.data.shards import META_FILE

    cfg = cfg or CleaningConfig()
    started = time.time()
    output = Path(output)
    if (output / META_FILE).exists() or (output / MANIFEST_FILE).exists():
        raise PrepareError(f"{output} already holds a prepared dataset; write to a new folder")
    workers = max(1, workers or os.cpu_count() or 1)
    tasks = max(1, tasks or workers)
    input_folder = get_datafolder(input_path)
    if not input_folder.exists(""):
        raise PrepareError(f"input {input_path} does not exist")
    input_hash, inputs = fingerprint_inputs(input_folder)
    if not inputs:
        raise PrepareError(f"input {input_path} holds no files")
    config_hash = hashlib.sha256(json.dumps(cfg.to_dict(), sort_keys=True).encode()).hexdigest()
    version = data_version or f"{name}-{hashlib.sha256((input_hash + config_hash).encode()).hexdigest()[:12]}"
    log(f"prepare-data: {len(inputs)} input files ({sum(i['bytes'] for i in inputs)} bytes), "
        f"data_version={version}, tasks={tasks}, workers={workers}")

    if not 0 <= host_index < hosts:
        raise PrepareError(f"--host-index {host_index} is not one of the {hosts} instances")
    if hosts > 1 and work_dir is None:
        raise PrepareError("several instances need a --work-dir they all share (an s3:// prefix)")
    temporary = None
    if work_dir is None:
        temporary = tempfile.mkdtemp(prefix="flywheel-prepare-")
        work_dir = temporary
    work = get_datafolder(work_dir)
    curated = output / CURATED_DIR
    if temporary or hosts > 1:  # a fresh run, or one gathered from the work dir: no earlier files mix in
        shutil.rmtree(curated, ignore_errors=True)
    curated.mkdir(parents=True, exist_ok=True)
    work_root = str(work_dir).rstrip("/")
    # One instance: the ranks write straight into the channel. Several: each instance's output folder is
    # its own disk, so the ranks write to the shared work dir and instance 0 gathers them at the end.
    curated_target = f"{work_root}/{CURATED_DIR}" if hosts > 1 else str(curated)
    stages, step_names = _build_stages(cfg, input_folder, work_root, curated_target, version, tasks=tasks,
                                       workers=workers, hosts=hosts, host_index=host_index,
                                       start_method=start_method)
    for i, (stage, executor) in enumerate(stages, 1):
        t0 = time.time()
        if i > 1 and hosts > 1:
            # datatrove's `depends` would also wait, but looks only every 2 minutes; after this it finds
            # nothing left and goes straight on.
            _wait_for_stage(stages[i - 2][0], stages[i - 2][1], log)
        executor.run()
        log(f"  stage {i}/{len(stages)} {stage}: {time.time() - t0:.1f}s")
    if host_index != 0:
        log("prepare-data: this instance's ranks are done; instance 0 writes the manifest and shards")
        return {}
    if hosts > 1:
        _wait_for_stage(stages[-1][0], stages[-1][1], log)
        _copy_curated(work, curated)

    documents_in, dropped, pii = collect_counts(work, step_names)
    removed_exact = {hashlib.sha1(r["text"].encode()).hexdigest() for r in _read_removed(work, "removed_exact")}
    summary = _summarise_curated(curated, removed_exact)
    kept = summary["kept"]
    if documents_in != kept + sum(dropped.values()):
        raise PrepareError(f"count mismatch: {documents_in} documents in, {kept} kept, "
                           f"{sum(dropped.values())} dropped {dropped}")
    log(f"  curated: {documents_in} in, {kept} kept, {sum(dropped.values())} dropped")
    for line in count_metric_lines(documents_in, kept, dropped):
        log(line)

    kind = cfg.kind
    if kind == "auto":
        kind = "sft" if summary["kinds"].get("chat", 0) > summary["kinds"].get("text", 0) else "pretrain"
    manifest = {
        "data_version": version, "name": name, "kind": kind,
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "inputs": {"uri": str(input_path), "files": inputs, "sha256": input_hash},
        "documents_in": documents_in, "documents_kept": kept, "dropped": dropped,
        "pii_masked": pii, "kinds": summary["kinds"], "characters_kept": summary["chars"],
        "content_hash": summary["content_hash"], "duplicate_clusters": _clusters(work, summary),
        "toxicity_scorer": "flywheel.safety.moderation", "config": cfg.to_dict(), "config_sha256": config_hash,
        "curated": {"path": CURATED_DIR, "files": sorted(p.name for p in curated.glob("*.parquet"))},
        "tasks": tasks, "workers": workers,
    }
    if kept:
        from flywheel.model.tokenizer import ChatTokenizer

        t0 = time.time()
        if tokenizer_path:
            tokenizer = ChatTokenizer.from_file(tokenizer_path)
        else:
            def texts():
                n = 0
                for rows in iter_curated(curated, ["text"]):
                    for row in rows:
                        if n >= cfg.tokenizer_max_docs:
                            return
                        n += 1
                        yield row["text"]
            tokenizer = ChatTokenizer.train(texts(), vocab_size=cfg.vocab_size)
        log(f"  tokenizer: vocab {tokenizer.vocab_size} in {time.time() - t0:.1f}s")
        val_fraction = min(0.5, max(cfg.val_fraction, cfg.val_min_chars / max(summary["chars"], 1)))
        t0 = time.time()
        meta = write_shards(output, curated, kind=kind, data_version=version, tokenizer=tokenizer, kept=kept,
                            val_fraction=val_fraction, shard_tokens=cfg.shard_tokens, log=log)
        manifest["shards"] = {"splits": {k: {"tokens": v["tokens"], "documents": v["documents"]}
                                         for k, v in meta["splits"].items()},
                              "skipped_other_kind": meta["skipped_other_kind"], "vocab_size": meta["vocab_size"]}
        log(f"  shards: {manifest['shards']['splits']} in {time.time() - t0:.1f}s")
    else:
        manifest["shards"] = None
        log("  no document survived cleaning: no tokenizer or shards written")
    manifest["seconds"] = round(time.time() - started, 3)
    _write_json(output / MANIFEST_FILE, manifest)
    if lake is not None:
        lake.publish(output, manifest)
        log(f"  lake: {version} → {lake.names.zone_uri('curated')}")
    if temporary and not keep_work:
        shutil.rmtree(temporary, ignore_errors=True)
    log(f"prepare-data: done in {manifest['seconds']:.1f}s → {output}")
    return manifest


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True))
    os.replace(tmp, path)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="flywheel prepare-data", description=__doc__.splitlines()[0])
    p.add_argument("--input", required=True, help="folder or s3:// prefix of raw .txt/.jsonl/.parquet files")
    p.add_argument("--output", required=True, help="folder for curated/, manifest.json and the shard channel")
    p.add_argument("--config", help="JSON file overriding CleaningConfig fields")
    p.add_argument("--name", default="corpus", help="dataset name; the version is <name>-<hash>")
    p.add_argument("--data-version", help="use this version name instead of the content hash")
    p.add_argument("--tasks", type=int, help="datatrove tasks per stage (default: workers)")
    p.add_argument("--workers", type=int, help="processes at once (default: every core)")
    p.add_argument("--work-dir", help="intermediate files (default: a temporary folder, removed at the end)")
    p.add_argument("--keep-work", action="store_true")
    p.add_argument("--tokenizer", help="tokenizer.json to use instead of training one (fine-tuning a model)")
    p.add_argument("--vocab-size", type=int)
    p.add_argument("--kind", choices=("auto", "pretrain", "sft"))
    p.add_argument("--hosts", type=int, default=1, help="instances sharing the job (SageMaker Processing)")
    p.add_argument("--host-index", type=int, default=0)
    p.add_argument("--lake-stack", help="also publish to this stack's lake (S3 + Glue; AWS_ENDPOINT_URL applies)")
    p.add_argument("--lake-project", default="flywheel")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        data = json.loads(Path(args.config).read_text()) if args.config else {}
        if args.vocab_size:
            data["vocab_size"] = args.vocab_size
        if args.kind:
            data["kind"] = args.kind
        cfg = CleaningConfig.from_dict(data)
        lake = None
        if args.lake_stack:
            from flywheel.data.lake import Lake
            from flywheel.names import StackNames

            lake = Lake(StackNames(args.lake_project, args.lake_stack))
        manifest = prepare(args.input, args.output, cfg, name=args.name, data_version=args.data_version,
                           tasks=args.tasks, workers=args.workers, work_dir=args.work_dir,
                           keep_work=args.keep_work, tokenizer_path=args.tokenizer, hosts=args.hosts,
                           host_index=args.host_index, lake=lake)
    except (PrepareError, ValueError, OSError) as exc:
        print(f"prepare-data: error: {exc}", file=sys.stderr)
        return 2
    if manifest:
        print(json.dumps({k: manifest[k] for k in ("data_version", "documents_in", "documents_kept", "dropped")},
                         indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
