"""`flywheel turn`: one whole turn of the loop on this machine, through the entry points AWS runs.

    clean → train → fine-tune → evaluate → gate → register → deploy
          → simulated users chat through the REST API (the `openai` client) and give feedback
          → build preferences from the lake → Constitutional AI on red-team prompts (critique → revise;
            AI-feedback pairs) → DPO (champion as reference) → evaluate → gate → register → deploy as a canary
          → bake: users chat with the canary, the canary controller promotes it or rolls it back

Every job is the script its SageMaker job runs (`training_jobs/prepare_data.py`, `train.py`,
`preference.py`, `evaluate.py`), started as a local process with the SageMaker contract pointed at
folders under `--out`; raw data is uploaded to the emulated S3 first and synced back down, as a
Processing job's input would be. The AWS side is `flywheel.local.stack` (moto server: the lake bucket,
Glue, DynamoDB, the model package group, Firehose); serving is the inference container's `serve`
process behind the local SageMaker endpoint and the local API Gateway front (`flywheel up`'s parts).

Two corpora are cleaned: the demo corpus (stdlib docstrings plus dirty records: the pretraining
channel and its tokenizer) and a chat log (`flywheel.feedback.synthetic`'s chats, 30% warm answers and
70% curt) that becomes the SFT channel. The users' stated preference is `flywheel.feedback.users` (the
warmer answer wins); the same rule judges the next evaluation. `benchmarks/preference_rounds.py`
measures, over seeds, that such a round wins by more than noise.

The system policy is the packaged `compact` one (`FLYWHEEL_POLICY_VERSION=compact`, set for this process
and every job and server it starts): the default policy is longer than a small model's context. After the
users are served, the API's and the inference server's EMF log lines are published to the stack's
CloudWatch (`flywheel.observability.local_sink`, as CloudWatch Logs does in AWS) and read back into the
report's `metrics`.

Constitutional AI (`python -m flywheel.feedback.constitution`, run on the champion): two sampled answers
to each red-team prompt (behind the same policy the API sends); the first is critiqued against
`constitution.yaml` and revised where it violates a principle, the pair is labelled by the constitution's
judge (the safety checks first, then the users' stated preference as its "helpful" principle). Both join
the users' pairs in the preference round's training channel, tagged by `source`: AI-feedback pairs as
they are, revisions as pairs of revision over original, whose RPO term (`--rpo-alpha`, the chosen
answer's NLL) is the supervised fine-tune on the revisions. The merged channel is a preference data
version of its own, with its manifest in the lake's preferences zone, so lineage still resolves.

The bake: the challenger is deployed as a canary at `CANARY.share` of traffic; users then chat with the
routed alias through the API and give a thumbs up or down by the same stated preference; their EMF lines
are published to CloudWatch, and the canary controller Lambda (`functions/canary/handler.py`, the code
EventBridge runs every few minutes in AWS) is invoked until it promotes or rolls back. Its ticks, the
share history and the rates it saw are the report's `rollout`; the deployed model is what it decided.

This module does not decide anything itself: the gate (`flywheel.feedback.gate`, run inside the
evaluation job) decides, the canary controller decides the rollout, and the rollout side effects are
`flywheel.feedback.rollout`'s.

    flywheel turn --out runs/turn [--seed 0]          # what `make demo` runs
    flywheel turn --out runs/tiny --size tiny         # the end-to-end test's size
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
JOBS = REPO / "training_jobs"
# The packaged short system policy: the default one is longer than a small model's whole context.
POLICY_VERSION = "compact"
GATE = {"min_comparisons": 16, "max_loss_regression": 0.25}


@dataclass(frozen=True)
class Size:
    modules: int  # stdlib modules in the demo corpus
    pretrain_steps: int
    sft_steps: int
    dpo_steps: int
    chat_copies: int  # copies of each synthetic chat in the chat log (styles drawn independently)
    rounds: int  # times each round prompt is asked (each ask: n=2 sampled answers)
    max_tokens: int
    red_team: int
    cai_prompts: int = 16  # red-team prompts the constitution stages sample (two answers each)
    bake_requests: int = 24  # chats during the canary's bake (one answer each, then a thumbs)
    bake_seconds: float = 10.0  # the canary's bake period (an hour in AWS: CanaryConfig's default)


SIZES = {
    "demo": Size(modules=5, pretrain_steps=40, sft_steps=200, dpo_steps=40, chat_copies=6, rounds=1,
                 max_tokens=24, red_team=8, cai_prompts=16, bake_requests=24, bake_seconds=10.0),
    "tiny": Size(modules=3, pretrain_steps=10, sft_steps=200, dpo_steps=30, chat_copies=4, rounds=1,
                 max_tokens=20, red_team=4, cai_prompts=8, bake_requests=16, bake_seconds=5.0),
}


def canary_config(size: Size):
    """The bake's canary: half the traffic, so a few dozen chats are evidence; thresholds as in AWS, scaled
    to that volume (a rollback needs >= 5 ratings with more than half of them thumbs-down, or > 10% errors)."""
    from flywheel.feedback.gate import CanaryConfig

    return CanaryConfig(share=0.5, bake_seconds=size.bake_seconds, min_requests=5, max_error_rate=0.1,
                        min_feedback=5, max_thumbs_down_rate=0.5)


class Turn:
    def __init__(self, out: Path, seed: int, size: Size, preset: str):
        self.out, self.seed, self.size, self.preset = out, seed, size, preset
        self.stages: list[dict] = []
        self.env: dict[str, str] = {}

    # ----------------------------------------------------------------------------- plumbing
    def stage(self, name: str, fn, *args, **kw):
        print(f"==> {name}", flush=True)
        start = time.perf_counter()
        result = fn(*args, **kw)
        seconds = round(time.perf_counter() - start, 2)
        self.stages.append({"stage": name, "seconds": seconds})
        print(f"    {name} done in {seconds:.1f} s", flush=True)
        return result

    def job(self, name: str, script: str, argv: list[str]) -> None:
        """A SageMaker job's entry point as a local process; its log goes to logs/<name>.log."""
        self.run_logged(name, [str(JOBS / script), *argv])

    def module_job(self, name: str, module: str, argv: list[str]) -> None:
        """A library entry point (`python -m module`) as a job, logged like the scripts."""
        self.run_logged(name, ["-m", module, *argv])

    def run_logged(self, name: str, python_args: list[str]) -> None:
        """`python <python_args>` with the stack's environment, its output in logs/<name>.log; a failure
        stops the turn with the log's last lines."""
        log = self.out / "logs" / f"{name}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **self.env, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
        with log.open("w") as fh:
            proc = subprocess.run([sys.executable, *python_args], stdout=fh, stderr=subprocess.STDOUT,
                                  env=env, check=False)
        if proc.returncode != 0:
            tail = "".join(log.read_text(errors="replace").splitlines(keepends=True)[-25:])
            raise SystemExit(f"{name} failed (exit {proc.returncode}); last lines of {log}:\n{tail}")

    def training_args(self, name: str) -> list[str]:
        d = self.out / "jobs" / name
        return ["--model-dir", str(d / "model"), "--output-data-dir", str(d / "output"),
                "--checkpoint-dir", str(d / "checkpoints"), "--checkpoint-every", "0",
                "--failure-file", str(d / "failure"), "--seed", str(self.seed), "--device", "cpu"]

    # ----------------------------------------------------------------------------- data
    def sync_down(self, s3, bucket: str, prefix: str, dest: Path) -> Path:
        """What a Processing job's S3 input does: the prefix's objects into a local folder."""
        dest.mkdir(parents=True, exist_ok=True)
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                target = dest / obj["Key"][len(prefix):].lstrip("/")
                target.parent.mkdir(parents=True, exist_ok=True)
                s3.download_file(bucket, obj["Key"], str(target))
        return dest

    def upload(self, s3, bucket: str, folder: Path, prefix: str) -> None:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                s3.upload_file(str(path), bucket, f"{prefix}{path.relative_to(folder).as_posix()}")

    def clean(self, s3, names, name: str, raw: Path, extra: list[str]) -> dict:
        prefix = f"{names.zone_prefix('raw')}{name}/"
        self.upload(s3, names.bucket, raw, prefix)
        local_in = self.sync_down(s3, names.bucket, prefix, self.out / "jobs" / f"clean-{name}" / "input")
        output = self.out / "jobs" / f"clean-{name}" / "output"
        self.job(f"clean-{name}", "prepare_data.py", ["--input", str(local_in), "--output", str(output),
                                                      "--name", name, "--workers", "2",
                                                      "--lake-stack", names.stack, *extra])
        return {"channel": output, **json.loads((output / "manifest.json").read_text())}

    def chat_log(self, folder: Path) -> Path:
        from flywheel.feedback import synthetic
        from flywheel.safety import apply_policy

        folder.mkdir(parents=True, exist_ok=True)
        chats = synthetic.sft_chats(random.Random(self.seed), copies=self.size.chat_copies)
        with (folder / "chats.jsonl").open("w") as fh:
            for chat in chats:
                fh.write(json.dumps({"messages": apply_policy(chat[:1]) + chat[1:]}) + "\n")
        return folder

    # ----------------------------------------------------------------------------- evaluation and rollout
    def evaluate(self, name: str, model: Path, champion: Path | None, extra: list[str]) -> dict:
        out = self.out / "jobs" / name
        argv = ["--model", str(model), "--output", str(out), "--red-team-limit", str(self.size.red_team),
                "--max-new-tokens", str(self.size.max_tokens), "--gate-config", json.dumps(GATE), *extra]
        if champion is not None:
            argv += ["--champion", str(champion)]
        self.job(name, "evaluate.py", argv)
        return json.loads((out / "evaluation.json").read_text())

    def register_and_deploy(self, names, s3, model: Path, evaluation: dict) -> dict:
        """Register the candidate (approved or rejected by the gate); deploy it only if the gate passed."""
        from flywheel.api.routing import write_routing
        from flywheel.feedback import rollout
        from flywheel.feedback.gate import RoutingRecord, start_canary
        from flywheel.local.api import publish_model
        from flywheel.model.artifact import read_meta

        version = read_meta(model)["version"]
        model_url = f"s3://{names.bucket}/{names.zone_prefix('models')}{version}.tar.gz"
        package = rollout.register_candidate(names.model_package_group, model_url, "flywheel-inference:local",
                                             evaluation, version)
        table = names.dynamo_table("routing")
        before = rollout.read_route(table)
        deployed = evaluation["gate"] == "pass"
        if deployed:
            publish_model(s3, names, model, version)
            now = time.time()
            if before is None:  # the first model: the champion from the start
                write_routing(table, RoutingRecord(route="chat", champion=version, reason="first model",
                                                   history=({"at": now, "state": "stable", "champion": version},)))
            else:  # a challenger: a canary the canary controller will promote or roll back
                rollout.write_transition(table, before, start_canary(before, version, canary_config(self.size), now))
        after = rollout.read_route(table)
        return {"version": version, "gate": evaluation["gate"], "deployed": deployed, "package": package,
                "routing": None if after is None else after.to_item()}

    # ----------------------------------------------------------------------------- the users
    @contextmanager
    def serving(self, stack, names, work: Path):
        """The serving path `flywheel up` runs: the inference server, the local endpoint, the API front.

        The handlers' and the server's stdout (their EMF metric lines, as in Lambda) go to `work/api.log`
        and `work/serve/serve.log`, not to the console; read them after the block, once flushed."""
        from flywheel.local.api import LocalApi, start_inference_server
        from flywheel.local.endpoint import LocalEndpoint

        work.mkdir(parents=True, exist_ok=True)
        api_log = (work / "api.log").open("w")
        saved_stdout = os.dup(1)
        with ExitStack() as stack_:
            sys.stdout.flush()
            os.dup2(api_log.fileno(), 1)
            stack_.callback(lambda: (sys.stdout.flush(), os.dup2(saved_stdout, 1), os.close(saved_stdout),
                                     api_log.close()))
            container = start_inference_server(work / "serve")
            stack_.callback(container.stop)
            endpoint = stack_.enter_context(LocalEndpoint(container.url, work / "models", names=names,
                                                          s3_client=stack.client("s3")))
            env = {**self.env, "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": endpoint.url,
                   "POWERTOOLS_TRACE_DISABLED": "true", "POWERTOOLS_LOG_LEVEL": "WARNING"}
            yield stack_.enter_context(LocalApi(env, workers=2).start(warm=("chat", "feedback")))

    def publish_logs(self, stack, work: Path):
        """What CloudWatch Logs does for the Lambdas and the endpoint in AWS: their EMF lines become
        metrics in the stack's CloudWatch. Returns the bridge (names published, malformed lines)."""
        from flywheel.observability.local_sink import EmfBridge

        bridge = EmfBridge(client=stack.client("cloudwatch"), keep_logs=False)
        for path in (work / "api.log", work / "serve" / "serve.log"):
            if path.exists():
                bridge.feed_file(path)
        bridge.flush()
        return bridge

    def serve_users(self, stack, names) -> dict:
        import httpx
        import openai

        from flywheel.feedback import synthetic, users
        from flywheel.observability.local_sink import read_back

        work = self.out / "serving"
        prompts = synthetic.prompts_for(synthetic.ROUND_SUBJECTS) * self.size.rounds
        latencies, log = [], []
        counts = {"requests": 0, "feedback_sent": 0, "ties": 0, "filtered": 0, "errors": 0}
        since = time.time()
        with self.serving(stack, names, work) as api:
            client = openai.OpenAI(base_url=api.url, api_key=api.api_key, max_retries=0, timeout=60)
            for k, prompt in enumerate(prompts):
                counts["requests"] += 1
                start = time.perf_counter()
                try:
                    completion = client.chat.completions.create(
                        model="flywheel", messages=[{"role": "user", "content": prompt}], n=2, temperature=1.0,
                        max_tokens=self.size.max_tokens, user=f"user-{k % 7}", seed=self.seed * 10_000 + k)
                except openai.BadRequestError as exc:
                    if exc.code != "content_filter":
                        raise
                    # The input guard refused a user's prompt: counted (a false positive here, since the
                    # round's prompts are benign), never fatal.
                    counts["filtered"] += 1
                    log.append({"prompt": prompt, "filtered": str(exc)[:200]})
                    continue
                except openai.APIError as exc:
                    counts["errors"] += 1
                    log.append({"prompt": prompt, "error": str(exc)[:200]})
                    continue
                latencies.append(round(time.perf_counter() - start, 4))
                answers = [c.message.content or "" for c in completion.choices]
                verdict = users.feedback_for(completion.id, answers)
                entry = {"prompt": prompt, "answers": answers, "model": completion.model}
                if verdict is None:
                    counts["ties"] += 1
                else:
                    reply = httpx.post(f"{api.url}/feedback", json=verdict, timeout=30,
                                          headers={"x-api-key": api.api_key})
                    if reply.status_code >= 400:
                        raise RuntimeError(f"feedback refused ({reply.status_code}): {reply.text[:300]}")
                    counts["feedback_sent"] += 1
                    entry["preferred_choice"] = verdict["preferred_choice"]
                log.append(entry)
        (work / "conversations.jsonl").write_text("".join(json.dumps(e) + "\n" for e in log))
        warm = [users.warmth(a) > 0 for e in log for a in e.get("answers", [])]
        # The EMF lines (read once the processes have stopped and flushed) become metrics in the stack's
        # CloudWatch, read back under the dashboard's roll-up.
        bridge = self.publish_logs(stack, work)
        logs = [work / "api.log", work / "serve" / "serve.log"]
        metrics = read_back(bridge.published_names, since, time.time(), client=bridge.client) \
            if bridge.published_names else {}
        emf = {"logs": [str(p.relative_to(self.out)) for p in logs], "documents": bridge.documents,
               "malformed": sum(bridge.malformed.values()), "malformed_reasons": dict(bridge.malformed)}
        return {**counts, "latency_s": latencies, "warm_answer_share": sum(warm) / max(len(warm), 1),
                "metrics": metrics, "emf": emf}

    def build_preferences(self, names) -> dict:
        from flywheel.feedback.channel import write_pair_channel
        from flywheel.feedback.lake import build_from_lake, write_to_lake

        prefs = build_from_lake(names, heldout_fraction=0.2, salt=str(self.seed))
        lake = write_to_lake(prefs, names)
        channel = self.out / "jobs" / "preferences" / "output"
        written = write_pair_channel(channel, prefs)
        return {"channel": channel, "pairs": len(prefs.pairs), "lake": lake, "channel_manifest": written,
                "manifest": prefs.manifest()}

    # ----------------------------------------------------------------------------- Constitutional AI
    def constitution(self, champion: Path) -> dict:
        """Both CAI stages on the champion's answers to red-team prompts (see the module docstring)."""
        out = self.out / "jobs" / "constitution" / "output"
        self.module_job("constitution", "flywheel.feedback.constitution", [
            "--model", str(champion), "--out", str(out), "--limit", str(self.size.cai_prompts),
            "--max-new-tokens", str(self.size.max_tokens), "--judge", "flywheel.feedback.users:score",
            "--seed", str(self.seed), "--policy"])
        stats = json.loads((out / "stats.json").read_text())
        return {"output": out, **stats}

    def merge_channel(self, names, s3, prefs: dict, cai: dict) -> dict:
        """The preference round's training channel: the users' pairs, the AI-feedback pairs and the
        revisions (as revision-over-original pairs), each row tagged with its `source`; a data version
        of its own whose manifest (with the users' version as its parent) is put in the lake."""
        import hashlib
        import shutil

        from flywheel.feedback.preferences import content_id, prompt_hash

        users_channel, out = prefs["channel"], self.out / "jobs" / "preference_data" / "output"
        out.mkdir(parents=True, exist_ok=True)
        for name in ("train.jsonl", "heldout.jsonl"):
            shutil.copyfile(users_channel / name, out / name)
        ai_pairs = [json.loads(line) for line in (cai["output"] / "ai_pairs.jsonl").read_text().splitlines() if line]
        revisions = []
        for line in (cai["output"] / "revisions.jsonl").read_text().splitlines():
            if not line:
                continue
            ex = json.loads(line)
            prompt, revised = ex["messages"][:-1], ex["messages"][-1]["content"]
            if revised == ex["original"]:
                continue  # nothing to learn from a revision that changed nothing
            p_hash = prompt_hash(prompt)
            revisions.append({"pair_id": content_id(p_hash, revised, ex["original"]), "prompt": prompt,
                              "chosen": [{"role": "assistant", "content": revised}],
                              "rejected": [{"role": "assistant", "content": ex["original"]}],
                              "prompt_hash": p_hash, "source": "cai_revision", "violated": ex["violated"],
                              "constitution": ex["constitution"]})
        (out / "ai_feedback.jsonl").write_text("".join(json.dumps(p) + "\n" for p in ai_pairs))
        (out / "cai_revisions.jsonl").write_text("".join(json.dumps(p) + "\n" for p in revisions))
        digest = hashlib.sha256()
        for name in ("ai_feedback.jsonl", "cai_revisions.jsonl"):
            digest.update((out / name).read_bytes())
        base = prefs["manifest"]
        version = f"{base['version']}-cai-{digest.hexdigest()[:8]}"
        manifest = {**base, "version": version, "parent_version": base["version"],
                    "pair_sources": {**base.get("pair_sources", {}), "ai_feedback": len(ai_pairs),
                                     "cai_revision": len(revisions)},
                    "constitution": cai.get("constitution"), "constitution_model": cai.get("model")}
        manifest["pairs"] = {**base["pairs"], "train": base["pairs"]["train"] + len(ai_pairs) + len(revisions)}
        (out / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True))
        key = f"{names.zone_prefix('preferences')}manifests/{version}.json"
        s3.put_object(Bucket=names.bucket, Key=key, Body=json.dumps(manifest, sort_keys=True).encode())
        return {"channel": out, "version": version, "manifest_uri": f"s3://{names.bucket}/{key}",
                "pairs": {"users": prefs["pairs"], "ai_feedback": len(ai_pairs), "cai_revision": len(revisions)}}

    # ----------------------------------------------------------------------------- the canary's bake
    def controller(self):
        """The canary controller Lambda's handler, loaded from its folder as Lambda would load it."""
        import importlib.util

        spec = importlib.util.spec_from_file_location("flywheel_function_canary",
                                                      REPO / "functions" / "canary" / "handler.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module.lambda_handler

    def bake_canary(self, stack, names) -> dict:
        """Users chat with the routed alias while the canary bakes; the controller decides (see the docstring)."""
        import io
        import uuid
        from contextlib import redirect_stdout
        from dataclasses import asdict

        import httpx
        import openai

        from flywheel.feedback import rollout, synthetic, users
        from flywheel.local.api import LambdaContext

        table, config = names.dynamo_table("routing"), canary_config(self.size)
        record = rollout.read_route(table)
        if record is None or record.state != "canary":
            return {"decision": "none", "reason": "no canary was deployed (the challenger failed its gate)",
                    "ticks": [], "share_history": []}
        candidate, started = record.canary, record.canary_since or time.time()
        # The function's environment (infra/components/canary.py sets the same variables in AWS), only
        # while it runs: the API's worker processes started in between must not inherit it.
        lambda_env = {"CANARY_CONFIG": json.dumps(asdict(config)), "CANARY_ROUTE": "chat",
                      "POWERTOOLS_SERVICE_NAME": "canary", "POWERTOOLS_METRICS_NAMESPACE": names.metrics_namespace,
                      "POWERTOOLS_TRACE_DISABLED": "true", "POWERTOOLS_LOG_LEVEL": "WARNING"}
        saved_env = {k: os.environ.get(k) for k in lambda_env}
        printed, ticks, loaded = io.StringIO(), [], []

        def tick() -> dict:
            event = {"source": "aws.events", "detail-type": "Scheduled Event", "time": time.time()}
            os.environ.update(lambda_env)
            try:
                if not loaded:  # the cold start, inside the function's environment
                    loaded.append(self.controller())
                with redirect_stdout(printed):  # its EMF lines (CanaryShare, Rollbacks): published below
                    outcome = loaded[0](event, LambdaContext("canary", str(uuid.uuid4()), 60))
            finally:
                for key, value in saved_env.items():
                    if value is None:
                        os.environ.pop(key, None)
                    else:
                        os.environ[key] = value
            ticks.append({"at_s": round(time.time() - started, 2), **outcome})
            return outcome

        tick()  # before any traffic: the controller waits, having no evidence
        work = self.out / "bake"
        served = {}
        prompts = synthetic.prompts_for(synthetic.EVAL_SUBJECTS + synthetic.ROUND_SUBJECTS)
        with self.serving(stack, names, work) as api:
            client = openai.OpenAI(base_url=api.url, api_key=api.api_key, max_retries=0, timeout=60)
            for k in range(self.size.bake_requests):
                try:
                    completion = client.chat.completions.create(
                        model="flywheel", messages=[{"role": "user", "content": prompts[k % len(prompts)]}], n=1,
                        temperature=1.0, max_tokens=self.size.max_tokens, user=f"bake-user-{k}",
                        seed=self.seed * 10_000 + 5_000 + k)
                except openai.APIError as exc:
                    # The input guard's refusal (a false positive on these benign prompts) reaches no model;
                    # any other failure is an error the API counts. Either way: counted, never fatal.
                    kind = "filtered" if getattr(exc, "code", None) == "content_filter" else "errors"
                    failed = served.setdefault("not_answered", {"filtered": 0, "errors": 0})
                    failed[kind] += 1
                    failed["last"] = str(exc)[:200]
                    continue
                arm = "canary" if completion.model == candidate else "champion"
                counts = served.setdefault(arm, {"version": completion.model, "requests": 0, "thumbs_up": 0,
                                                 "thumbs_down": 0})
                counts["requests"] += 1
                verdict = users.feedback_for(completion.id, [completion.choices[0].message.content or ""])
                reply = httpx.post(f"{api.url}/feedback", json=verdict, timeout=30, headers={"x-api-key": api.api_key})
                if reply.status_code >= 400:
                    raise RuntimeError(f"feedback refused ({reply.status_code}): {reply.text[:300]}")
                counts[f"thumbs_{verdict['thumbs']}"] += 1
        self.publish_logs(stack, work)
        tick()
        # EventBridge's rate(5 minutes), compressed: tick again once the bake is over. A canary still
        # waiting after its bake lacks evidence, and no more traffic comes in this turn: undecided.
        while ticks[-1]["action"] == "wait" and (remaining := config.bake_seconds - (time.time() - started)) > 0:
            time.sleep(remaining + 0.5)
            tick()
        from flywheel.observability.local_sink import EmfBridge

        bridge = EmfBridge(client=stack.client("cloudwatch"), keep_logs=False)
        bridge.feed_lines(printed.getvalue().splitlines())
        bridge.flush()
        (work / "controller.log").write_text(printed.getvalue())
        after = rollout.read_route(table)
        final = ticks[-1]
        share = [{"at_s": 0.0, "state": "canary", "canary_share": record.canary_share, "candidate_share":
                  record.canary_share}]
        for t in ticks:
            if "state" in t:
                candidate_share = {"promoted": 1.0, "rolled_back": 0.0}.get(t["state"], t.get("canary_share", 0.0))
                share.append({"at_s": t["at_s"], "state": t["state"], "canary_share": t.get("canary_share", 0.0),
                              "candidate_share": candidate_share})
        return {"decision": final["action"] if final["action"] in ("promote", "rollback") else "undecided",
                "reason": final.get("reason"), "candidate": candidate, "config": asdict(config),
                "stats": final.get("stats"), "served": served, "ticks": ticks, "share_history": share,
                "controller_metrics": sorted(bridge.published_names), "routing": None if after is None else after.to_item()}

    def trace(self, names, s3, model: Path) -> dict:
        """From a model back to the cleaned data it descends from, read from the lake.

        A preference-tuned model's data version is a preference set (its manifest in the lake's
        preferences zone); the chain then follows the model's parent, down to a model trained on a data
        version the data lake publishes, which `Lake.lineage` resolves to its curated rows."""
        from flywheel.data.lake import Lake
        from flywheel.model.artifact import read_meta

        lake = Lake(names)
        published = set(lake.versions())
        models = {read_meta(p.parent)["version"]: p.parent for p in (self.out / "jobs").glob("*/model/config.json")}
        chain = []
        while True:
            meta = read_meta(model)
            version = meta.get("data_version")
            if version in published:
                root = lake.lineage(model)
                root.pop("manifest", None)
                chain.append({"model_version": meta["version"], "data_version": version, "zone": "curated",
                              "uri": root["curated_uri"]})
                return {"model_version": chain[0]["model_version"], "data_version": version, "chain": chain,
                        "curated_uri": root["curated_uri"], "documents_kept": root["documents_kept"]}
            key = f"{names.zone_prefix('preferences')}manifests/{version}.json"
            try:
                s3.head_object(Bucket=names.bucket, Key=key)
            except Exception as exc:  # any miss breaks the chain, which must be reported
                raise SystemExit(f"model {meta['version']} trained on {version!r}, found in no lake zone") from exc
            chain.append({"model_version": meta["version"], "data_version": version, "zone": "preferences",
                          "uri": f"s3://{names.bucket}/{key}"})
            parent = meta.get("parent_version")
            if parent not in models:
                raise SystemExit(f"model {meta['version']}'s parent {parent!r} is not among this turn's models")
            model = models[parent]

    # ----------------------------------------------------------------------------- the turn
    def run(self) -> dict:
        from flywheel.data import demo_corpus
        from flywheel.local.stack import LocalStack
        from flywheel.names import StackNames

        started = time.perf_counter()
        names = StackNames(stack=f"turn{self.seed}")
        from flywheel.safety.config import POLICY_VERSION_ENV, load_config

        # This process (the SFT chat log, the evaluation prompts) and every job and server it starts.
        os.environ[POLICY_VERSION_ENV] = POLICY_VERSION
        load_config.cache_clear()

        with LocalStack.start(names) as stack:
            self.env = {**stack.env(), POLICY_VERSION_ENV: POLICY_VERSION}
            os.environ.update(self.env)  # boto3 clients built in this process (rollout, lake) use the stack
            s3 = stack.client("s3")

            raw = self.out / "raw"
            self.stage("corpus", demo_corpus.build, raw / "demo", demo_corpus.MODULES[:self.size.modules])
            self.chat_log(raw / "chats")
            pretrain = self.stage("clean", self.clean, s3, names, "demo", raw / "demo", [])
            sft_config = self.out / "jobs" / "clean-chats.json"
            sft_config.parent.mkdir(parents=True, exist_ok=True)
            # Chat logs are templated by design: the web-text quality and dedup filters would drop them.
            sft_config.write_text(json.dumps({"exact_dedup": False, "minhash": None, "gopher_quality": None,
                                              "gopher_repetition": None, "c4": None, "fineweb": None,
                                              "val_fraction": 0.1, "val_min_chars": 0}))
            sft = self.stage("clean_chats", self.clean, s3, names, "chats", raw / "chats",
                             ["--kind", "sft", "--config", str(sft_config),
                              "--tokenizer", str(pretrain["channel"] / "tokenizer.json")])

            self.stage("train", self.job, "train", "train.py", [
                "--preset", self.preset, "--max-steps", str(self.size.pretrain_steps), "--batch-size", "8",
                "--block-size", "128", "--eval-every", "0", "--train-dir", str(pretrain["channel"]),
                *self.training_args("train")])
            # A chat behind the compact policy is ~100 tokens with the demo's tokenizer: 128-token windows
            # reach the answer (64 would end inside the prompt); batch 8 keeps the tokens per step.
            self.stage("fine_tune", self.job, "fine_tune", "train.py", [
                "--preset", self.preset, "--max-steps", str(self.size.sft_steps), "--batch-size", "8",
                "--lr", "3e-3", "--warmup-steps", "10", "--block-size", "128", "--eval-every", "0",
                "--init-from", str(self.out / "jobs" / "train" / "model"), "--train-dir", str(sft["channel"]),
                *self.training_args("fine_tune")])
            champion = self.out / "jobs" / "fine_tune" / "model"
            first_eval = self.stage("evaluate", self.evaluate, "evaluate", champion, None,
                                    ["--data", str(sft["channel"])])
            first = self.stage("register_deploy", self.register_and_deploy, names, s3, champion, first_eval)
            if not first["deployed"]:
                raise SystemExit(f"the first model failed its gate: {first_eval.get('reasons')}")

            serving = self.stage("serve_users", self.serve_users, stack, names)
            prefs = self.stage("build_preferences", self.build_preferences, names)
            cai = self.stage("constitution", self.constitution, champion)
            merged = self.stage("merge_preferences", self.merge_channel, names, s3, prefs, cai)
            self.stage("preference_tune", self.job, "preference_tune", "preference.py", [
                "--objective", "dpo", "--init-from", str(champion), "--train-dir", str(merged["channel"]),
                "--max-steps", str(self.size.dpo_steps), "--batch-size", "8", "--lr", "2e-4", "--beta", "0.1",
                "--rpo-alpha", "1.0", *self.training_args("preference_tune")])
            challenger = self.out / "jobs" / "preference_tune" / "model"
            prompts = self.out / "jobs" / "eval-prompts.jsonl"
            from flywheel.feedback import synthetic
            from flywheel.safety import apply_policy

            # Subjects the round never saw, wrapped in the policy the API sends, as users would ask them.
            prompts.write_text("".join(json.dumps({"prompt": apply_policy([{"role": "user", "content": p}])}) + "\n"
                                       for p in synthetic.prompts_for(synthetic.EVAL_SUBJECTS)))
            second_eval = self.stage("evaluate_challenger", self.evaluate, "evaluate_challenger", challenger,
                                     champion, ["--preferences", str(prefs["channel"]), "--prompts", str(prompts),
                                                "--judge", "flywheel.feedback.users:judge"])
            second = self.stage("register_deploy_challenger", self.register_and_deploy, names, s3, challenger,
                                second_eval)
            rollout = self.stage("bake_canary", self.bake_canary, stack, names)

            from flywheel.data.lake import Lake

            deployed_dir = challenger if rollout["decision"] == "promote" else champion
            lineage = self.stage("lineage", self.trace, names, s3, deployed_dir)
            versions = Lake(names).versions()

        return self.report_data(started, pretrain, sft, first_eval, first, serving, prefs, second_eval, second,
                                lineage, versions, deployed_dir, cai, merged, rollout)

    def report_data(self, started, pretrain, sft, first_eval, first, serving, prefs, second_eval, second,
                    lineage, versions, deployed_dir, cai, merged, rollout) -> dict:
        def data(m):
            return {k: m.get(k) for k in ("data_version", "kind", "documents_in", "documents_kept", "dropped")}

        def curve(name):
            path = self.out / "jobs" / name / "output" / "metrics.json"
            try:
                return json.loads(path.read_text()).get("history", [])
            except (OSError, json.JSONDecodeError):
                return []

        return {
            "seed": self.seed, "preset": self.preset, "size": self.size.__dict__,
            "total_seconds": round(time.perf_counter() - started, 2), "stages": self.stages,
            "data": {"pretrain": data(pretrain), "sft": data(sft), "lake_versions": versions},
            "training": {name: curve(name) for name in ("train", "fine_tune", "preference_tune")},
            "first_model": {"evaluation": first_eval, **first},
            "serving": {k: v for k, v in serving.items() if k not in ("metrics", "emf")},
            "metrics": serving["metrics"], "emf": serving["emf"],
            "preferences": {k: v for k, v in prefs.items() if k != "channel"},
            "constitution": {"constitution": cai.get("constitution"), "model": cai.get("model"),
                             "prompts": cai.get("prompts"), "supervised": cai.get("supervised"),
                             "ai_feedback": cai.get("ai_feedback")},
            "preference_data": {"version": merged["version"], "manifest_uri": merged["manifest_uri"],
                                "pairs": merged["pairs"]},
            "rollout": rollout,
            "challenger": {"evaluation": second_eval, **second},
            "preference_round": second_eval["preference_round"],
            "deployed": {"path": str(deployed_dir), "lineage": lineage},
        }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="flywheel turn", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="runs/turn", help="folder for every stage's output and the report")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--size", choices=sorted(SIZES), default="demo", help="steps and volumes (tiny: the test)")
    parser.add_argument("--preset", default="small", help="model preset (its context must hold policy + chat)")
    args = parser.parse_args(argv)

    from flywheel.local import report

    out = Path(args.out).resolve()
    if (out / "jobs").exists():
        raise SystemExit(f"{out} holds an earlier turn; pass an empty or new --out")
    out.mkdir(parents=True, exist_ok=True)
    result = Turn(out, args.seed, SIZES[args.size], args.preset).run()
    (out / "turn.json").write_text(json.dumps(result, indent=2, default=str))
    paths = report.write(out, result)
    pr = result["preference_round"]
    print(f"preference round: {pr['metric']} challenger={pr['challenger']} champion={pr['champion']} "
          f"margin={pr['margin']} gate={pr['gate']}; total {result['total_seconds']:.0f} s")
    print(f"report: {paths['markdown']} and {paths['html']}")
    return 0
