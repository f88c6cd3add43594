"""The cleaning job's own datatrove pipeline steps: what datatrove lacks, nothing it already has.

    RawReader        text / JSONL / Parquet files (local or S3 via fsspec), every record counted: a record
                     that cannot become a document (invalid JSON, not an object, no text, too large, an
                     unreadable Parquet file, an empty file) is dropped with its reason, never skipped
                     silently. Files are sharded contiguously across ranks, so the global order
                     (rank, position) is the input order whatever the number of tasks, and dedup keeps the
                     same document of a cluster for 1 task as for N.
    Normalize        invalid UTF-8 (repaired when rare, dropped when the text is mostly bytes), mojibake
                     (ftfy), Unicode normal form, control characters and whitespace.
    PlainTextOnly    wraps a datatrove quality filter so chat records (SFT) pass untouched: Gopher's word
                     counts are meant for documents, not for turns of a conversation.
    RedactPII        masks PII with flywheel.safety.pii (the API's code), counting each type.
    ToxicityFilter   drops what flywheel.safety.moderate flags (the very moderation the API runs).
    RegexWordTokenizer  a datatrove WordTokenizer on one regex: the quality filters and MinHash shingles
                     need words, and spaCy costs ~5 s to load in every worker process of every stage.
    CompleteMinhashRemovals  lets MinhashDedupFilter label a cluster's kept document in a rank that
                     removes nothing (datatrove skips the rank's cluster ids then): 1 task = N tasks.
    RankJsonlReader  reads back the intermediate file a stage wrote for the same rank (datatrove's
                     MinHash and exact dedup address documents by (rank, index in rank)).
    CuratedWriter    datatrove's ParquetWriter with the curated table's columns (doc_id, text, source,
                     data_version, n_chars, content_hash, kind, messages, dup_cluster).

Every drop is recorded the way datatrove's own filters record theirs: `stat_update("dropped")` and
`stat_update(f"dropped_{reason}")`, so the job reads one kind of stats for all steps.
A chat record is a Document whose `metadata["messages"]` holds the turns; its `text` is the rendered
conversation, re-rendered after every step that changes a turn.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import unicodedata

import regex
from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.base import PipelineStep
from datatrove.pipeline.filters.base_filter import BaseFilter
from datatrove.pipeline.readers.base import BaseDiskReader
from datatrove.pipeline.readers.jsonl import JsonlReader
from datatrove.pipeline.writers.parquet import ParquetWriter
from datatrove.utils.word_tokenizers import WordTokenizer
from fsspec.spec import AbstractBufferedFile

CHAT_ROLES = ("system", "user", "assistant")


def render_chat(messages: list[dict]) -> str:
    """The text of a chat as the quality, dedup and toxicity steps see it: `role: content` per turn."""
    return "\n\n".join(f"{m['role']}: {m['content']}" for m in messages)


def _drop(step: PipelineStep, reason: str) -> None:
    step.stat_update("dropped")
    step.stat_update(f"dropped_{reason}")


class RawReader(BaseDiskReader):
    """Reads raw inputs into Documents (id `<file>#<record>`, metadata `source`), counting every record."""

    name = "flywheel raw reader"

    def __init__(self, data_folder, *, text_key: str = "text", messages_key: str = "messages",
                 max_record_bytes: int = 4 << 20, parquet_batch_rows: int = 1024, glob_pattern: str | None = None):
        super().__init__(data_folder, text_key=text_key, glob_pattern=glob_pattern, add_file_path=False)
        self.messages_key = messages_key
        self.max_record_bytes = max_record_bytes
        self.parquet_batch_rows = parquet_batch_rows

    def _in(self) -> None:
        self.stat_update("documents_in")

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        files = sorted(self.data_folder.list_files(recursive=self.recursive, glob_pattern=self.glob_pattern))
        files = [f for f in files if not any(part.startswith((".", "_")) for part in f.split("/"))]
        # Contiguous blocks, not round-robin: see the module docstring (same dedup choice for 1 or N tasks).
        per, extra = divmod(len(files), world_size)
        start = rank * per + min(rank, extra)
        shard = files[start:start + per + (rank < extra)]
        for path in shard:
            self.stat_update("input_files")
            yield from self.read_file(path)

    def read_file(self, filepath: str) -> DocumentsPipeline:
        lower = filepath.lower()
        try:
            if lower.endswith(".parquet"):
                yield from self._read_parquet(filepath)
            elif lower.endswith((".jsonl", ".jsonl.gz", ".json", ".ndjson")):
                yield from self._read_jsonl(filepath)
            else:
                yield from self._read_text(filepath)
        except OSError:
            # The file vanished or could not be opened at all: one record in, dropped.
            self._in()
            _drop(self, "unreadable_file")

    def _document(self, text: str, filepath: str, index: int, invalid: int, messages=None, meta=None
                  ) -> Document:
        metadata = {"source": filepath, "invalid_chars": invalid}
        if messages is not None:
            metadata["messages"] = messages
        if meta:
            metadata.update(meta)
        return Document(text=text, id=f"{filepath}#{index}", metadata=metadata)

    def _read_text(self, filepath: str) -> DocumentsPipeline:
        with self.data_folder.open(filepath, "rb", compression="infer") as f:
            raw = f.read(self.max_record_bytes + 1)
        self._in()
        if not raw:
            _drop(self, "empty_file")
        elif len(raw) > self.max_record_bytes:
            _drop(self, "record_too_large")
        else:
            text = raw.decode("utf-8", errors="replace")
            yield self._document(text, filepath, 0, _count_invalid(raw, text))

    def _read_jsonl(self, filepath: str) -> DocumentsPipeline:
        with self.data_folder.open(filepath, "rb", compression="infer") as f:
            if isinstance(f, AbstractBufferedFile):
                # A remote file (s3fs S3File, ...): its readline() takes no size limit, so a 50 MB line
                # would be read whole (and TypeError on the call below). io's buffer adds the limit.
                f = io.BufferedReader(f)
            index = 0
            any_line = False
            while True:
                line = f.readline(self.max_record_bytes + 1)
                if not line:
                    break
                any_line = True
                too_large = len(line) > self.max_record_bytes and not line.endswith(b"\n")
                while too_large:  # drain the rest of an oversized line without holding it
                    rest = f.readline(1 << 20)
                    if not rest or rest.endswith(b"\n"):
                        break
                if not line.strip():
                    continue  # blank separator lines are not records
                index += 1
                self._in()
                if too_large:
                    _drop(self, "record_too_large")
                    continue
                text = line.decode("utf-8", errors="replace")
                try:
                    record = json.loads(text)
                except ValueError:
                    _drop(self, "invalid_json")
                    continue
                doc = self._from_record(record, filepath, index - 1, _count_invalid(line, text))
                if doc is not None:
                    yield doc
            if not any_line:
                self._in()
                _drop(self, "empty_file")

    def _from_record(self, record, filepath: str, index: int, invalid: int) -> Document | None:
        if not isinstance(record, dict):
            _drop(self, "not_an_object")
            return None
        messages = record.get(self.messages_key)
        if messages is not None:
            if not _valid_chat(messages):
                _drop(self, "invalid_messages")
                return None
            messages = [{"role": m["role"], "content": m["content"]} for m in messages]
            return self._document(render_chat(messages), filepath, index, invalid, messages=messages)
        text = record.get(self.text_key)
        if not isinstance(text, str):
            _drop(self, "missing_text")
            return None
        return self._document(text, filepath, index, invalid)

    def _read_parquet(self, filepath: str) -> DocumentsPipeline:
        # Parquet needs random access: fsspec file objects (local or S3) seek, so nothing is loaded whole.
        with self.data_folder.open(filepath, "rb") as f:
            yield from self._read_parquet_file(f, filepath)

    def _read_parquet_file(self, f, filepath: str) -> DocumentsPipeline:
        import pyarrow.parquet as pq

        try:
            pf = pq.ParquetFile(f)
        except Exception:  # noqa: BLE001 - pyarrow raises ArrowInvalid, OSError, ...: all mean unreadable
            self._in()
            _drop(self, "unreadable_parquet")
            return
        columns = [c for c in (self.text_key, self.messages_key) if c in pf.schema_arrow.names]
        total, seen = pf.metadata.num_rows, 0
        if not columns:
            for _ in range(max(total, 1)):
                self._in()
                _drop(self, "missing_text")
            return
        if total == 0:
            self._in()
            _drop(self, "empty_file")
            return
        try:
            for batch in pf.iter_batches(batch_size=self.parquet_batch_rows, columns=columns):
                for record in batch.to_pylist():
                    seen += 1
                    self._in()
                    if record.get(self.messages_key) is None:
                        record.pop(self.messages_key, None)
                    doc = self._from_record(record, filepath, seen - 1, 0)
                    if doc is not None:
                        yield doc
        except Exception:  # noqa: BLE001 - a corrupt page: the rows not yet read are dropped, counted
            for _ in range(total - seen):
                self._in()
                _drop(self, "unreadable_parquet")


def _valid_chat(messages) -> bool:
    return (isinstance(messages, list) and bool(messages)
            and all(isinstance(m, dict) and m.get("role") in CHAT_ROLES and isinstance(m.get("content"), str)
                    for m in messages)
            and any(m["role"] == "assistant" for m in messages))


def _count_invalid(raw: bytes, text: str) -> int:
    """How many replacement characters decoding added (U+FFFD already in the input is not counted)."""
    added = text.count("\ufffd")
    return added - raw.count("\ufffd".encode()) if added else 0


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b\u2060\ufeff]")
_TRAILING_WS = re.compile(r"[ \t\u00a0]+$", re.MULTILINE)
_INNER_WS = re.compile(r"(?<=\S)[ \t\u00a0]{2,}(?=\S)")
_BLANK_LINES = re.compile(r"\n{3,}")


def normalize_text(text: str, *, fix_mojibake: bool = True, form: str = "NFC") -> str:
    """Mojibake repaired, one Unicode normal form, no control characters, tidy whitespace."""
    if fix_mojibake:
        import ftfy

        # ftfy's defaults also unescape HTML and change quotes; keep the text, fix the encoding only.
        text = ftfy.fix_text(text, unescape_html=False, uncurl_quotes=False, fix_latin_ligatures=False,
                             fix_character_width=False, normalization=None)
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\ufffd", "")
    text = _CONTROL.sub("", text)
    if form:
        text = unicodedata.normalize(form, text)
    text = _TRAILING_WS.sub("", text)
    text = _INNER_WS.sub(" ", text)
    return _BLANK_LINES.sub("\n\n", text).strip()


class Normalize(PipelineStep):
    """Decode and normalise; drops `invalid_utf8` (mostly undecodable bytes) and `empty` documents."""

    name = "flywheel normalize"
    type = "🔧 - NORMALIZE"

    def __init__(self, *, fix_mojibake: bool = True, form: str = "NFC", max_invalid_fraction: float = 0.05,
                 min_chars: int = 1):
        super().__init__()
        self.fix_mojibake, self.form = fix_mojibake, form
        self.max_invalid_fraction, self.min_chars = max_invalid_fraction, min_chars

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        for doc in data:
            with self.track_time():
                self.stat_update("total")
                invalid = doc.metadata.pop("invalid_chars", 0)
                if invalid and invalid > self.max_invalid_fraction * max(len(doc.text), 1):
                    _drop(self, "invalid_utf8")
                    continue
                if invalid:
                    self.stat_update("repaired_invalid_utf8")
                messages = doc.metadata.get("messages")
                if messages is not None:
                    for m in messages:
                        m["content"] = normalize_text(m["content"], fix_mojibake=self.fix_mojibake, form=self.form)
                    if not any(m["content"] for m in messages if m["role"] == "assistant"):
                        _drop(self, "empty")
                        continue
                    doc.text = render_chat(messages)
                else:
                    before = doc.text
                    doc.text = normalize_text(doc.text, fix_mojibake=self.fix_mojibake, form=self.form)
                    if doc.text != before:
                        self.stat_update("changed")
                if len(doc.text) < self.min_chars:
                    _drop(self, "empty" if not doc.text else "too_short")
                    continue
            yield doc


class PlainTextOnly(BaseFilter):
    """Applies a datatrove filter to plain documents only; chat records pass through unchanged."""

    def __init__(self, inner: BaseFilter):
        super().__init__()
        self.inner = inner
        self.name = inner.name

    def filter(self, doc: Document):
        if "messages" in doc.metadata:
            return True
        return self.inner.filter(doc)


class RedactPII(PipelineStep):
    """Masks PII in place (`<EMAIL>`, `<CREDIT_CARD>`, ...); counts `pii_<TYPE>` and `documents_with_pii`."""

    name = "flywheel PII redaction"
    type = "🔒 - PII"

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        from flywheel.safety.pii import mask_pii

        for doc in data:
            with self.track_time():
                self.stat_update("total")
                counts: dict[str, int] = {}
                messages = doc.metadata.get("messages")
                if messages is not None:
                    for m in messages:
                        m["content"], found = mask_pii(m["content"])
                        for k, v in found.items():
                            counts[k] = counts.get(k, 0) + v
                    doc.text = render_chat(messages)
                else:
                    doc.text, counts = mask_pii(doc.text)
                if counts:
                    self.stat_update("documents_with_pii")
                    for kind, n in counts.items():
                        self.stat_update(f"pii_{kind}", value=n)
            yield doc


class ToxicityFilter(BaseFilter):
    """Drops documents the moderation scorer flags; the reason names the highest-scoring category."""

    name = "flywheel toxicity"

    def __init__(self, threshold: float | None = None, max_chars: int = 20_000):
        super().__init__()
        self.threshold, self.max_chars = threshold, max_chars

    def filter(self, doc: Document):
        from flywheel.safety.moderation import moderate

        # Moderation reads a prefix and a tail of long texts anyway; long documents are judged in windows.
        text = doc.text
        windows = [text[i:i + self.max_chars] for i in range(0, max(len(text), 1), self.max_chars)]
        for window in windows:
            result = moderate(window)
            scores = result.category_scores
            hit = (max(scores.values(), default=0.0) >= self.threshold if self.threshold is not None
                   else result.flagged)
            if hit:
                top = max(scores, key=scores.get) if scores else "flagged"
                return False, "toxic_" + top.replace("/", "_")
        return True


class RegexWordTokenizer(WordTokenizer):
    """Words, sentences and spans by regex: what Gopher/C4/FineWeb and MinHash need, without spaCy."""

    _WORD = regex.compile(r"\w+(?:[.'’_-]\w+)*|[^\w\s]+")
    _SENT = regex.compile(r"[^.!?\n]+(?:[.!?]+[\"')\]]*|\n|$)")

    def __init__(self, language: str = "en"):
        super().__init__(language)

    def word_tokenize(self, text: str) -> list[str]:
        return self._WORD.findall(text)

    def sent_tokenize(self, text: str) -> list[str]:
        return [s.strip() for s in self._SENT.findall(text) if s.strip()]

    def span_tokenize(self, text: str) -> list[tuple[int, int]]:
        return [m.span() for m in self._SENT.finditer(text) if m.group().strip()]


class CompleteMinhashRemovals(PipelineStep):
    """Runs after MinhashDedupCluster: an empty `<rank>.remove` for each rank that has `.clusters` but none.

    datatrove's MinhashDedupFilter reads a rank's `.clusters` only when that rank has a `.remove` file.
    With several tasks, a rank can hold a cluster's kept document and none of its removed ones (they are
    in other ranks): without this, that document would lose its cluster id (dup_cluster -1) where one
    task keeps it, and the curated rows would differ with the number of tasks.
    """

    name = "flywheel minhash removal files"
    type = "🫂 - DEDUP"

    def __init__(self, folder, tasks: int):
        super().__init__()
        from datatrove.io import get_datafolder

        self.folder, self.tasks = get_datafolder(folder), tasks

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        if data:
            yield from data
        for r in range(self.tasks):
            if self.folder.isfile(f"{r:06d}.clusters") and not self.folder.isfile(f"{r:06d}.remove"):
                with self.folder.open(f"{r:06d}.remove", "wb"):
                    self.stat_update("empty_remove_files")


class RankJsonlReader(JsonlReader):
    """Reads `<rank:05d>.jsonl.gz` of a stage's output: the file the same rank wrote, or nothing."""

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        name = f"{rank:05d}.jsonl.gz"
        if self.data_folder.exists(name):
            yield from self.read_files_shard([name])


def curated_schema():
    import pyarrow as pa

    # The curated Glue table's columns (flywheel.data.schemas) plus what lineage and SFT need.
    return pa.schema([("doc_id", pa.string()), ("text", pa.string()), ("source", pa.string()),
                      ("data_version", pa.string()), ("n_chars", pa.int64()), ("content_hash", pa.string()),
                      ("kind", pa.string()), ("messages", pa.string()), ("dup_cluster", pa.int64())])


class CuratedWriter(ParquetWriter):
    """Writes kept documents as curated rows to `<folder>/<rank>.parquet` (one file per rank, in order)."""

    name = "flywheel curated parquet"

    def __init__(self, output_folder, *, data_version: str, batch_size: int = 1000):
        super().__init__(output_folder, output_filename="${rank}.parquet", schema=curated_schema(),
                         batch_size=batch_size, use_content_defined_chunking=False)
        self.data_version = data_version

    def _default_adapter(self, document: Document) -> dict:
        messages = document.metadata.get("messages")
        return {
            "doc_id": document.id,
            "text": document.text,
            "source": document.metadata.get("source", ""),
            "data_version": self.data_version,
            "n_chars": len(document.text),
            "content_hash": hashlib.sha1(document.text.encode()).hexdigest(),
            "kind": "chat" if messages is not None else "text",
            "messages": json.dumps(messages, ensure_ascii=False) if messages is not None else None,
            "dup_cluster": int(document.metadata.get("minhash_cluster_id", -1)),
        }
