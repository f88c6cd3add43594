"""The demo corpus: real English built offline at run time, plus a small deliberately dirty sample.

Clean part: the documentation strings of the Python standard library (modules, classes, functions),
which every machine with Python has — written as JSONL, one docstring a record, a few files.
Dirty part, one JSONL file and a few odd files, so each cleaning step has something to do:

    exact duplicates        the same docstring repeated
    near duplicates         a docstring with a sentence appended, or a word swapped
    PII                     emails, phone numbers, a card number, an IP address, an AWS key
    toxic lines             abusive or threatening text the moderation scorer flags
    low quality             a line of symbols, a repeated line, a very short note
    broken encoding         mojibake, invalid UTF-8 bytes, a file of binary noise
    malformed records       a line that is not JSON, a JSON array, a record without text, an empty file
    chats                   a few SFT-style {"messages": [...]} records (kept out of a pretrain channel)

Nothing is downloaded and nothing large is committed: `build(folder)` writes the files (about 1-3 MB
with the default modules) and returns what it wrote.

    python -m flywheel.data.demo_corpus runs/raw          # then: flywheel prepare-data --input runs/raw ...
"""

from __future__ import annotations

import importlib
import json
import pydoc
import sys
from pathlib import Path

MODULES = ("json", "csv", "argparse", "collections", "functools", "itertools", "pathlib", "statistics",
           "textwrap", "string", "heapq", "bisect", "datetime", "random", "re", "os", "shutil", "logging",
           "subprocess", "threading", "asyncio", "typing", "dataclasses", "enum", "decimal", "fractions",
           "http.client", "urllib.request", "email.message", "unittest", "sqlite3", "zipfile", "tarfile",
           "socket", "inspect", "contextlib", "abc", "operator", "copy", "pickle", "struct", "array",
           "difflib", "calendar", "hashlib", "secrets", "uuid", "tempfile", "glob", "fnmatch", "io")


def stdlib_docstrings(modules=MODULES, min_chars: int = 200) -> list[str]:
    """Docstrings of the modules and their public members, longest first within a module, deduplicated."""
    seen: set[str] = set()
    texts: list[str] = []
    for name in modules:
        try:
            module = importlib.import_module(name)
        except ImportError:  # a trimmed Python (no sqlite3, ...): use what there is
            continue
        members = [module] + [v for k, v in sorted(vars(module).items()) if not k.startswith("_")]
        for obj in members:
            if getattr(obj, "__module__", name) not in (name, None) and obj is not module:
                continue
            doc = pydoc.getdoc(obj)
            if doc and len(doc) >= min_chars and doc not in seen:
                seen.add(doc)
                texts.append(doc)
    return texts


def dirty_records(clean: list[str]) -> list[dict | str]:
    """JSONL lines (dicts, or raw strings for malformed lines) that exercise every cleaning step."""
    base = clean[:6] if len(clean) >= 6 else clean
    records: list[dict | str] = []
    for text in base[:3]:  # exact duplicates of documents also present in the clean part
        records.append({"text": text})
    for text in base[3:6]:  # near duplicates: one extra sentence
        records.append({"text": text + "\n\nThis paragraph was appended to make a near duplicate."})
    pii_note = ("Please contact the maintainer of this module, Jane Roe, at jane.roe@example.com or on "
                "(555) 123-4567 when the tests fail. Her card 4111 1111 1111 1111 was charged for the build "
                "server at 192.168.10.24, whose key AKIAIOSFODNN7EXAMPLE must never appear in the logs. The "
                "module reads its configuration from the environment and writes a report to the output folder, "
                "and the report lists every warning that was raised while the files were being processed.")
    records.append({"text": pii_note})
    toxic = ("I have read the documentation of this library several times and you are a worthless idiot "
             "for writing it, and I will kill you if the next release breaks my code again. The functions "
             "return lists and the classes keep their state in attributes that the caller can read later.")
    records.append({"text": toxic})
    records.append({"text": "#### $$$ %%% @@@ !!! ^^^ &&& *** ((( ))) ### $$$ %%% @@@ !!! ^^^ &&& *** " * 8})
    records.append({"text": "Buy now and save. Buy now and save.\n" * 40})
    records.append({"text": "too short"})
    # UTF-8 read as Latin-1 (mojibake): the normaliser should give back "café", "naïve", "crème brûlée".
    records.append({"text": "The caf\u00c3\u00a9 near the station serves a na\u00c3\u00afve cr\u00c3\u00a8me "
                    "br\u00c3\u00bbl\u00c3\u00a9e that the owner learned to make from her grandmother, and the "
                    "people who live in the town come to eat it with a cup of coffee on the terrace in the "
                    "evening when the weather is warm and the light is soft over the river."})
    records.append("{this line is not json")
    records.append("[1, 2, 3]")
    records.append({"title": "a record without any text field"})
    records.append({"text": 42})
    chats = [
        [{"role": "user", "content": "What does json.dumps return?"},
         {"role": "assistant", "content": "A str holding the JSON text of the object you passed."}],
        [{"role": "system", "content": "You answer questions about Python."},
         {"role": "user", "content": "How do I sort a list in place?"},
         {"role": "assistant", "content": "Call its sort() method; sorted() returns a new list instead."}],
    ]
    records += [{"messages": m} for m in chats]
    return records


def build(folder: str | Path, modules=MODULES, files: int = 4) -> dict:
    """Write the corpus under `folder`; returns {"files": [...], "clean_documents": n, "dirty_records": n}."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    clean = stdlib_docstrings(modules)
    written = []
    for i in range(files):
        path = folder / f"stdlib_{i:02d}.jsonl"
        with path.open("w", encoding="utf-8") as f:
            for text in clean[i::files]:
                f.write(json.dumps({"text": text}, ensure_ascii=False) + "\n")
        written.append(path.name)
    dirty = dirty_records(clean)
    with (folder / "dirty.jsonl").open("w", encoding="utf-8") as f:
        for record in dirty:
            f.write((record if isinstance(record, str) else json.dumps(record, ensure_ascii=False)) + "\n")
    written.append("dirty.jsonl")
    # Invalid UTF-8 inside an otherwise good line, a file of binary noise, and an empty file.
    with (folder / "bytes.jsonl").open("wb") as f:
        f.write(b'{"text": "' + clean[0][:400].replace("\\", "").replace('"', "").replace("\n", " ").encode()
                + b' \xff\xfe caf\xe9 end of text."}\n')
    (folder / "noise.txt").write_bytes(bytes(range(128, 256)) * 64)
    (folder / "empty.jsonl").write_bytes(b"")
    written += ["bytes.jsonl", "noise.txt", "empty.jsonl"]
    return {"files": written, "clean_documents": len(clean), "dirty_records": len(dirty) + 3}


if __name__ == "__main__":
    out = sys.argv[1] if len(sys.argv) > 1 else "runs/raw"
    print(json.dumps(build(out), indent=2))
