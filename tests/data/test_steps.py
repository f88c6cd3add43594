"""The job's own pipeline steps, one rule at a time, and the hostile inputs the reader must survive."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from datatrove.data import Document

from flywheel.data.steps import (
    Normalize,
    RawReader,
    RedactPII,
    RegexWordTokenizer,
    ToxicityFilter,
    normalize_text,
    render_chat,
)

GOOD = "The quick brown fox jumps over the lazy dog, and then it runs back into the forest again."


def read_all(folder, **kwargs):
    reader = RawReader(str(folder), **kwargs)
    docs = list(reader.run(rank=0, world_size=1))
    stats = {k: v.total for k, v in reader.stats.stats.items()}
    return docs, stats


def dropped(stats):
    return {k[len("dropped_"):]: v for k, v in stats.items() if k.startswith("dropped_")}


def test_reader_counts_every_hostile_record(tmp_path):
    lines = [json.dumps({"text": GOOD}).encode(), b"{not json", b"[1, 2]", b'"a string"',
             json.dumps({"title": "no text"}).encode(), json.dumps({"text": 7}).encode(),
             b'{"text": "bad bytes \xff\xfe here ' + GOOD.encode() + b'"}', b"", b"   ",
             json.dumps({"messages": [{"role": "user", "content": "hi"}]}).encode(),  # no assistant turn
             json.dumps({"messages": [{"role": "user", "content": "hi"},
                                      {"role": "assistant", "content": "hello"}]}).encode()]
    (tmp_path / "a.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    (tmp_path / "empty.jsonl").write_bytes(b"")
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "broken.parquet").write_bytes(b"PAR1 this is not parquet at all")
    (tmp_path / "doc.txt").write_text(GOOD)
    docs, stats = read_all(tmp_path)
    assert dropped(stats) == {"invalid_json": 1, "not_an_object": 2, "missing_text": 2, "invalid_messages": 1,
                              "empty_file": 2, "unreadable_parquet": 1}
    assert len(docs) == 4  # good text, bad-bytes text, valid chat, doc.txt
    assert stats["documents_in"] == len(docs) + sum(dropped(stats).values())
    bad = next(d for d in docs if "bad bytes" in d.text)
    assert bad.metadata["invalid_chars"] == 2
    chat = next(d for d in docs if "messages" in d.metadata)
    assert chat.text == render_chat(chat.metadata["messages"])
    assert all(d.id.count("#") == 1 and d.metadata["source"] for d in docs)


def test_reader_drops_a_50mb_line_without_holding_it(tmp_path):
    huge = b'{"text": "' + b"x" * (50 << 20) + b'"}\n'
    (tmp_path / "big.jsonl").write_bytes(huge + json.dumps({"text": GOOD}).encode() + b"\n")
    (tmp_path / "big.txt").write_bytes(b"y" * (50 << 20))
    docs, stats = read_all(tmp_path, max_record_bytes=1 << 20)
    assert [d.text for d in docs] == [GOOD]
    assert dropped(stats) == {"record_too_large": 2}
    assert stats["documents_in"] == 3


def test_reader_parquet_text_and_chats(tmp_path):
    table = pa.table({"text": [GOOD, None, "second " + GOOD], "other": [1, 2, 3]})
    pq.write_table(table, tmp_path / "t.parquet")
    pq.write_table(pa.table({"body": ["no text column"]}), tmp_path / "u.parquet")
    docs, stats = read_all(tmp_path)
    assert [d.id.split("#")[1] for d in docs] == ["0", "2"]
    assert dropped(stats) == {"missing_text": 2}
    assert stats["documents_in"] == 4


def test_reader_shards_files_contiguously(tmp_path):
    for i in range(5):
        (tmp_path / f"{i}.txt").write_text(f"{i} {GOOD}")
    seen = []
    for rank in range(3):
        reader = RawReader(str(tmp_path))
        seen += [d.id for d in reader.run(rank=rank, world_size=3)]
    assert seen == [f"{i}.txt#0" for i in range(5)]  # global order = input order, whatever the tasks


def test_normalize_text_rules():
    assert normalize_text("The caf\u00c3\u00a9 is open") == "The café is open"  # mojibake
    assert normalize_text("e\u0301") == "\u00e9"  # NFC
    assert normalize_text("a\x00b\u200bc\r\nnext") == "abc\nnext"  # control, zero-width, CRLF
    assert normalize_text("  x  \n\n\n\n y   z \t") == "x\n\n y z"  # whitespace (indentation kept)
    assert normalize_text("keep   indentation\n    def f():") == "keep indentation\n    def f():"


def run_step(step, docs):
    out = list(step.run(iter(docs)))
    return out, {k: v.total for k, v in step.stats.stats.items()}


def test_normalize_step_drops_mostly_invalid_and_empty():
    docs = [Document(text="\ufffd" * 50 + "ab", id="bad", metadata={"invalid_chars": 50}),
            Document(text=GOOD + "\ufffd", id="fixable", metadata={"invalid_chars": 1}),
            Document(text=" \n\t ", id="blank", metadata={}),
            Document(text="user: hi", id="chat", metadata={"messages": [
                {"role": "user", "content": "  hi  "}, {"role": "assistant", "content": "hello\r\nthere"}]})]
    out, stats = run_step(Normalize(min_chars=1), docs)
    assert [d.id for d in out] == ["fixable", "chat"]
    assert "\ufffd" not in out[0].text
    assert out[1].metadata["messages"][1]["content"] == "hello\nthere"
    assert out[1].text == "user: hi\n\nassistant: hello\nthere"
    assert dropped(stats) == {"invalid_utf8": 1, "empty": 1}


def test_pii_step_masks_text_and_chat_turns():
    docs = [Document(text="mail me at a@b.io", id="1"),
            Document(text="", id="2", metadata={"messages": [{"role": "user", "content": "ip 10.0.0.1"},
                                                             {"role": "assistant", "content": "ok"}]})]
    out, stats = run_step(RedactPII(), docs)
    assert out[0].text == "mail me at <EMAIL>"
    assert out[1].metadata["messages"][0]["content"] == "ip <IP_ADDRESS>"
    assert stats["pii_EMAIL"] == 1 and stats["pii_IP_ADDRESS"] == 1 and stats["documents_with_pii"] == 2


def test_toxicity_filter_drops_what_the_api_moderation_flags():
    from flywheel.safety import moderate

    step = ToxicityFilter()
    assert step.filter(Document(text=GOOD, id="ok")) is True
    keep, reason = step.filter(Document(text="you worthless idiot, I will kill you", id="bad"))
    assert keep is False and reason.startswith("toxic_")
    flagged = moderate("you worthless idiot, I will kill you").flagged_categories
    assert reason in {"toxic_" + c.replace("/", "_") for c in flagged}


def test_regex_word_tokenizer():
    tok = RegexWordTokenizer()
    assert tok.word_tokenize("Use os.path.join(a, b) -- it's fine.") == [
        "Use", "os.path.join", "(", "a", ",", "b", ")", "--", "it's", "fine", "."]
    text = "One sentence. Another one!\nA third"
    assert tok.sent_tokenize(text) == ["One sentence.", "Another one!", "A third"]
    assert [text[a:b].strip() for a, b in tok.span_tokenize(text)] == tok.sent_tokenize(text)


@pytest.mark.parametrize("bad", ["{", "[]", "null"])
def test_no_hostile_line_raises(tmp_path, bad):
    (tmp_path / "x.jsonl").write_text(bad + "\n")
    docs, stats = read_all(tmp_path)
    assert docs == [] and stats["documents_in"] == 1 and stats["dropped"] == 1
