"""The engine: continuous batching over KV-cache slots, with prefix caching and admission control.

One background thread runs the step loop. Each turn it (1) admits waiting requests into free slots
and prefills them, (2) runs one batched decode step over every running sequence — rows at different
lengths — and (3) retires the sequences that finished, so requests join and leave at every step.
Running sequences live in slots 0..B-1 (a finished one's slot is refilled by moving the last one's
cache into it), which lets the decode step read the cache as a view.

A row's numbers and the batch it runs in: under int8 (flywheel's kernel or fbgemm's, each row
quantized on its own scale) and fp16 through flywheel's kernel or fbgemm's AVX-512 one, a row's
logits are the same bits alone as in any batch, so greedy text cannot depend on what else runs.
Under fp32 (and bf16, and fp16 through fbgemm's AVX2 kernel) the library's matrix product sums a
row in another order at one row than at several, and the logits differ by an ulp or so (every row
of a 256 x 768 product, 2e-6 at most, measured): greedy text then still equals the request's run
alone unless its two best tokens are that close.

Prefix caching: a chat prompt that opens with a system message (the policy every chat request
starts with) has that segment's keys and values computed once into a prefix slot and copied into
each request's slot; the prompt's rest is all that is prefilled. Decode steps read those positions
from the prefix slot (the runner's CPU kernel: one copy stays in the CPU's caches for every
sequence sharing it) until the prefix is evicted, and from the sequence's own copy after. `n` > 1
choices share one prefill.
Prefills run one request at a time: one padded pass over a burst of them (tried on the bench preset,
32 requests at once, 2 CPU cores) took as long, since a prompt's prefill is already a matrix
product of tens of rows, bound by arithmetic rather than by per-call overhead, and padding adds work.

Admission: at most `max_queue` requests wait; the next one gets `Overloaded` (HTTP 429 with
Retry-After). A request that waits past its timeout gets `RequestTimeout`; one that runs past it
finishes with `finish_reason: "timeout"` and keeps what it generated.

Output: `submit` returns a `Completion`, an iterator of chunks {"index", "text", "finish_reason"}
(token streaming) whose `result()` is the whole answer. Detokenization and stop strings run in the
consumer's thread, not the step loop. Knows no HTTP.
"""

from __future__ import annotations

import logging
import math
import queue
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Iterator
from dataclasses import dataclass, field

import torch

from flywheel.model.tokenizer import ChatTokenizer
from flywheel.serving.errors import BadRequest, EngineFailure, Overloaded, RequestTimeout
from flywheel.serving.metrics import ModelMetrics
from flywheel.serving.params import GenerationRequest
from flywheel.serving.runner import ModelRunner
from flywheel.serving.sampling import next_tokens
from flywheel.serving.settings import EngineSettings

log = logging.getLogger(__name__)

MIN_PREFIX_TOKENS = 4  # shorter shared prefixes are not worth a slot
_GRACE_S = 5.0  # a consumer waits this long past its deadline before giving up on the engine


@dataclass
class _Sampler:
    temperature: float
    top_k: int
    top_p: float
    generator: torch.Generator


@dataclass
class _Seq:
    req: _Request
    index: int  # choice index within the request
    pos: int  # tokens in the cache = the position the next fed token takes
    last: int = -1  # token to feed at the next decode step
    generated: int = 0
    sampler: _Sampler | None = None
    done: bool = False
    # The prefix slot whose first `prefix_len` positions were copied into this sequence's slot: the
    # decode step reads them there, one copy for every sequence sharing it (0: none, or evicted).
    prefix_slot: int = 0
    prefix_len: int = 0


@dataclass
class _Request:
    params: GenerationRequest
    prompt_ids: list[int]
    deadline: float
    submitted: float = field(default_factory=time.monotonic)
    events: queue.SimpleQueue = field(default_factory=queue.SimpleQueue)
    first_token: float | None = None
    cached_tokens: int = 0
    open_choices: int = 0
    longest: int = 0  # tokens of the longest choice so far (time per output token)
    cancelled: set = field(default_factory=set)  # choice indices the consumer stopped (stop strings)
    abandoned: bool = False  # the consumer went away: stop every choice
    # Tokens go out one by one only when someone watches them (streaming) or must (stop strings);
    # otherwise they are held and handed over at the finish: one consumer wake-up per choice, not
    # one per token, which matters with dozens of requests sharing two cores.
    live: bool = True
    held: list = field(default_factory=list)


class Engine:
    def __init__(self, runner: ModelRunner, tokenizer: ChatTokenizer, settings: EngineSettings,
                 metrics: ModelMetrics | None = None, name: str = "model", version: str = "unversioned"):
        if runner.n_slots < settings.max_batch + (settings.prefix_slots if settings.prefix_caching else 0):
            raise ValueError("the runner has fewer cache slots than max_batch + prefix_slots")
        self.runner, self.tokenizer, self.settings = runner, tokenizer, settings
        self.metrics, self.name, self.version = metrics, name, version
        self.max_batch = settings.max_batch
        self.stop_ids = tokenizer.stop_ids
        self._system_id, self._end_id = tokenizer.ids["<|system|>"], tokenizer.end_id
        self._cond = threading.Condition()
        self._waiting: deque[_Request] = deque()
        self._active: list[_Seq] = []  # _active[i] lives in cache slot i
        self._prefix: OrderedDict[tuple, int] = OrderedDict()  # prefix tokens -> prefix slot, LRU
        self._free_prefix_slots = list(range(settings.max_batch, settings.max_batch + settings.prefix_slots))
        self._closed = False
        self._recent_latency_s = 1.0  # moving mean, for Retry-After
        self.prefix_hits = 0  # requests whose prefix came from the cache
        self._thread = threading.Thread(target=self._loop, name=f"engine-{name}", daemon=True)
        self._thread.start()

    # --- the caller's side -----------------------------------------------------------------------
    def submit(self, params: GenerationRequest) -> Completion:
        """Queue a request; raises BadRequest, Overloaded or EngineFailure at once, never later."""
        try:
            if params.prompt_ids is not None:
                ids = list(params.prompt_ids)
                if any(not 0 <= t < self.runner.config.vocab_size for t in ids):
                    raise BadRequest("prompt_ids holds ids outside the vocabulary")
            elif params.messages is not None:
                ids, _ = self.tokenizer.encode_chat(list(params.messages), add_generation_prompt=True)
            else:
                ids = self.tokenizer.encode(params.prompt)
        except ValueError as exc:
            raise BadRequest(str(exc)) from None
        if not ids:
            raise BadRequest("the prompt encodes to no tokens")
        if len(ids) >= self.runner.max_len:
            raise BadRequest(f"prompt of {len(ids)} tokens leaves no room in the model's context "
                             f"of {self.runner.max_len}")
        if params.n > self.max_batch:
            raise BadRequest(f"n={params.n} exceeds this model's batch of {self.max_batch}")
        timeout = params.timeout_s or self.settings.request_timeout_s
        req = _Request(params, ids, deadline=time.monotonic() + timeout,
                       live=params.stream or bool(params.stop), held=[[] for _ in range(params.n)])
        with self._cond:
            if self._closed:
                raise EngineFailure(f"model {self.name} is unloading")
            # Requests the next step will admit into free slots are not really queued.
            free = max(0, self.max_batch - len(self._active))
            if len(self._waiting) >= self.settings.max_queue + free:
                if self.metrics:
                    self.metrics.request_done("overloaded")
                raise Overloaded(f"model {self.name} has {len(self._waiting)} requests waiting",
                                 retry_after=self._retry_after())
            self._waiting.append(req)
            self._cond.notify()
        return Completion(self, req)

    def generate(self, params: GenerationRequest) -> dict:
        return self.submit(params).result()

    @property
    def busy(self) -> bool:
        return bool(self._waiting or self._active)

    @property
    def queue_depth(self) -> int:
        return len(self._waiting)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._thread.join(timeout=30)
        self.runner.release()

    def _retry_after(self) -> float:
        # Time for the queue ahead to drain, a batch at a time; at least a second.
        batches = len(self._waiting) / max(1, self.max_batch)
        return float(min(60, max(1, math.ceil(batches * self._recent_latency_s))))

    # --- the step loop ---------------------------------------------------------------------------
    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._closed and not self._waiting and not self._active:
                    if self.metrics:
                        self.metrics.idle(0)
                    self._cond.wait()
                if self._closed:
                    self._fail_all(EngineFailure(f"model {self.name} was unloaded"))
                    return
                admitted = self._admit_locked()
                depth = len(self._waiting)
            try:
                for req in admitted:
                    self._prefill(req)
                generated = self._step() if self._active else 0
                self._retire()
                if self.metrics:
                    self.metrics.step(generated, depth, generated)  # a decode step makes a token a row
            except Exception:  # a bug or a device error: fail what is running, keep serving
                log.exception("engine %s step failed", self.name)
                error = EngineFailure("the engine failed while running this request")
                with self._cond:
                    for req in admitted:  # those not prefilled yet are in no slot: tell them too
                        req.events.put(("error", error))
                    self._fail_all(error, waiting=False)
                    self._free_prefix_slots += list(self._prefix.values())
                    self._prefix.clear()

    def _admit_locked(self) -> list[_Request]:
        admitted, now = [], time.monotonic()
        free = self.max_batch - len(self._active)
        while self._waiting:
            req = self._waiting[0]
            if req.abandoned or now > req.deadline:
                self._waiting.popleft()
                if not req.abandoned:
                    req.events.put(("error", RequestTimeout(
                        f"request waited {now - req.submitted:.1f} s for a slot", self._retry_after())))
                if self.metrics:
                    self.metrics.request_done("timeout")
                continue
            if req.params.n > free:
                break
            self._waiting.popleft()
            admitted.append(req)
            free -= req.params.n
        return admitted

    def _prefill(self, req: _Request) -> None:
        ids, base, run = req.prompt_ids, len(self._active), self.runner
        start, prefix_slot = 0, 0
        prefix = self._prefix_len(ids)
        if prefix:
            key = tuple(ids[:prefix])
            slot = self._prefix.get(key)
            if slot is None:
                if self._free_prefix_slots:
                    slot = self._free_prefix_slots.pop()
                else:
                    _, slot = self._prefix.popitem(last=False)  # evict the least recently used
                    for s in self._active:  # they still have their own copy: read that from now on
                        if s.prefix_len and s.prefix_slot == slot:
                            s.prefix_len = 0
                run.prefill(slot, list(key), 0)
                self._prefix[key] = slot
            else:
                self._prefix.move_to_end(key)
                req.cached_tokens = prefix
                self.prefix_hits += 1
                if self.metrics:
                    self.metrics.prefix_hit(prefix)
            run.copy(slot, base, prefix)
            start, prefix_slot = prefix, slot
        logits = run.prefill(base, ids[start:], start)  # (V,)
        p = req.params
        seqs = []
        for j in range(p.n):
            if j:
                run.copy(base, base + j, len(ids))  # n choices share one prefill
            sampler = None
            if not p.greedy:
                gen = torch.Generator().manual_seed((p.seed + j) % (2**63))
                sampler = _Sampler(p.temperature, p.top_k, p.top_p, gen)
            seqs.append(_Seq(req, j, pos=len(ids), sampler=sampler, prefix_slot=prefix_slot, prefix_len=start))
        req.open_choices = p.n
        firsts = next_tokens(logits.expand(p.n, -1), [s.sampler for s in seqs])
        req.first_token = time.monotonic()
        self._active.extend(seqs)
        for s, t in zip(seqs, firsts):
            self._accept(s, t)

    def _prefix_len(self, ids: list[int]) -> int:
        """Length of the leading system segment (through its <|end|>), if worth caching; else 0."""
        if not self.settings.prefix_caching or not ids or ids[0] != self._system_id:
            return 0
        try:
            end = ids.index(self._end_id) + 1
        except ValueError:
            return 0
        # Keep at least one token to prefill: its logits start the answer.
        return end if MIN_PREFIX_TOKENS <= end < len(ids) else 0

    def _step(self) -> int:
        active = self._active
        logits = self.runner.decode([s.last for s in active], [s.pos for s in active],  # (B, V)
                                    [s.prefix_slot for s in active], [s.prefix_len for s in active])
        samplers = [s.sampler for s in active]
        tokens = next_tokens(logits, samplers)
        for s, t in zip(active, tokens):
            s.pos += 1
            self._accept(s, t)
        return len(active)

    def _accept(self, s: _Seq, token: int) -> None:
        """Take a sampled token: stop on a stop id, else hand it out and check the limits."""
        if s.done:
            return
        if token in self.stop_ids:
            self._finish(s, "stop")
            return
        s.generated += 1
        s.req.longest = max(s.req.longest, s.generated)
        if s.req.live:
            s.req.events.put(("token", s.index, token))
        else:
            s.req.held[s.index].append(token)
        if s.generated >= s.req.params.max_tokens or s.pos >= self.runner.max_len:
            self._finish(s, "length")
        else:
            s.last = token

    def _finish(self, s: _Seq, reason: str) -> None:
        s.done = True
        req = s.req
        if not req.live:
            req.events.put(("tokens", s.index, req.held[s.index]))
        req.events.put(("finish", s.index, reason))
        req.open_choices -= 1
        if req.open_choices == 0:
            now = time.monotonic()
            req.events.put(("end",))
            self._recent_latency_s = 0.9 * self._recent_latency_s + 0.1 * (now - req.submitted)
            if self.metrics:
                self.metrics.request_done("ok", req.first_token - req.submitted, req.longest,
                                          now - req.first_token)

    def _retire(self) -> None:
        """Finish timed-out or cancelled sequences, then compact the running ones into slots 0..B-1."""
        now = time.monotonic()
        for s in self._active:
            if s.done:
                continue
            if s.req.abandoned or s.index in s.req.cancelled:
                self._finish(s, "stop")
            elif now > s.req.deadline:
                self._finish(s, "timeout")
        gone = [i for i, s in enumerate(self._active) if s.done]
        for i in reversed(gone):  # highest first: whatever is last after a pop is still running
            last = self._active.pop()
            if i < len(self._active):
                self.runner.copy(len(self._active), i, last.pos)
                self._active[i] = last

    def _fail_all(self, error: Exception, waiting: bool = True) -> None:
        for s in self._active:
            if not s.done:
                s.done = True
                s.req.events.put(("error", error))
        self._active.clear()
        while waiting and self._waiting:
            self._waiting.popleft().events.put(("error", error))


class _ChoiceText:
    """Incremental detokenization of one choice, with stop strings."""

    def __init__(self, tokenizer: ChatTokenizer, stops: tuple[str, ...]):
        self.tokenizer, self.stops = tokenizer, stops
        self.hold = max((len(s) for s in stops), default=1) - 1  # a stop string may be half-formed
        self.ids: list[int] = []
        self.sent = 0  # characters already handed out
        self.finish_reason: str | None = None
        self.text = ""

    def feed(self, ids: list[int]) -> tuple[str, bool]:
        """New text to hand out, and whether a stop string ended the choice."""
        self.ids += ids
        text = self.tokenizer.decode(self.ids)
        cut = self._stop_at(text)
        if cut is not None:
            return self._emit(text[:cut]), True
        safe = len(text) - self.hold
        while safe > self.sent and text[safe - 1] == "\ufffd":  # bytes of a character still to come
            safe -= 1
        return self._emit(text[:max(safe, self.sent)]), False

    def flush(self) -> str:
        text = self.tokenizer.decode(self.ids)
        cut = self._stop_at(text)
        return self._emit(text if cut is None else text[:cut])

    def _stop_at(self, text: str) -> int | None:
        hits = [i for i in (text.find(s) for s in self.stops) if i >= 0]
        return min(hits) if hits else None

    def _emit(self, upto: str) -> str:
        delta = upto[self.sent:]
        self.sent = max(self.sent, len(upto))
        self.text = upto if len(upto) >= len(self.text) else self.text
        return delta


class Completion:
    """The answer to one request, as it is generated: iterate for chunks, or call `result()`."""

    def __init__(self, engine: Engine, req: _Request):
        self.engine, self._req = engine, req
        self._choices = [_ChoiceText(engine.tokenizer, req.params.stop) for _ in range(req.params.n)]
        self._ended = False

    @property
    def prompt_tokens(self) -> int:
        return len(self._req.prompt_ids)

    def __iter__(self) -> Iterator[dict]:
        req = self._req
        while not self._ended:
            wait = req.deadline + _GRACE_S - time.monotonic()
            try:
                items = [req.events.get(timeout=max(wait, 0.01))]
            except queue.Empty:
                self.cancel()
                raise RequestTimeout("the engine did not answer in time") from None
            while True:  # take whatever else is ready: one detokenization per burst
                try:
                    items.append(req.events.get_nowait())
                except queue.Empty:
                    break
            new: dict[int, list[int]] = {}
            for item in items:
                kind = item[0]
                if kind == "token":
                    new.setdefault(item[1], []).append(item[2])
                elif kind == "tokens":
                    new.setdefault(item[1], []).extend(item[2])
                elif kind == "finish":
                    yield from self._text_chunks(new)
                    new = {}
                    yield from self._finish(item[1], item[2])
                elif kind == "error":
                    self._ended = True
                    raise item[1]
                elif kind == "end":
                    self._ended = True
            yield from self._text_chunks(new)

    def _text_chunks(self, new: dict[int, list[int]]) -> Iterator[dict]:
        for index, ids in new.items():
            choice = self._choices[index]
            if choice.finish_reason is not None:
                continue  # stopped by a stop string; the engine's late tokens are dropped
            delta, stopped = choice.feed(ids)
            if stopped:
                choice.finish_reason = "stop"
                self._req.cancelled.add(index)
                yield {"index": index, "text": delta, "finish_reason": "stop"}
            elif delta:
                yield {"index": index, "text": delta, "finish_reason": None}

    def _finish(self, index: int, reason: str) -> Iterator[dict]:
        choice = self._choices[index]
        if choice.finish_reason is None:
            choice.finish_reason = reason
            yield {"index": index, "text": choice.flush(), "finish_reason": reason}

    def cancel(self) -> None:
        """The consumer is gone (client disconnected): free the slots at the next step."""
        self._req.abandoned = True

    def result(self) -> dict:
        for _ in self:
            pass
        completion = sum(len(c.ids) for c in self._choices)
        return {
            "model": self.engine.name,
            "model_version": self.engine.version,
            "choices": [{"index": i, "text": c.text, "finish_reason": c.finish_reason}
                        for i, c in enumerate(self._choices)],
            "usage": {"prompt_tokens": self.prompt_tokens, "completion_tokens": completion,
                      "total_tokens": self.prompt_tokens + completion,
                      "cached_prompt_tokens": self._req.cached_tokens},
        }
