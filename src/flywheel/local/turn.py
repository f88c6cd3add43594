"""`flywheel turn`: one whole turn of the loop on this machine, through the entry points AWS runs.

    clean → train → fine-tune → evaluate → gate → register → deploy
          → simulated users chat through the REST API (the `openai` client) and give feedback
          → build preferences from the lake → DPO (champion as reference) → evaluate → gate → register → deploy

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

This module does not decide anything itself: the gate (`flywheel.feedback.gate`, run inside the
evaluation job) decides, and the rollout side effects are `flywheel.feedback.rollout`'s.

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
from contextlib import ExitStack
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


SIZES = {
    "demo": Size(modules=5, pretrain_steps=40, sft_steps=200, dpo_steps=40, chat_copies=6, rounds=1,
                 max_tokens=24, red_team=8),
    "tiny": Size(modules=3, pretrain_steps=10, sft_steps=200, dpo_steps=30, chat_copies=4, rounds=1,
                 max_tokens=20, red_team=4),
}


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
        log = self.out / "logs" / f"{name}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **self.env, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
        with log.open("w") as fh:
            proc = subprocess.run([sys.executable, str(JOBS / script), *argv], stdout=fh, stderr=subprocess.STDOUT,
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
        from flywheel.feedback.gate import CanaryConfig, RoutingRecord, start_canary
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
                rollout.write_transition(table, before, start_canary(before, version, CanaryConfig(), now))
        after = rollout.read_route(table)
        return {"version": version, "gate": evaluation["gate"], "deployed": deployed, "package": package,
                "routing": None if after is None else after.to_item()}

    # ----------------------------------------------------------------------------- the users
    def serve_users(self, stack, names) -> dict:
        import httpx
        import openai

        from flywheel.feedback import synthetic, users
        from flywheel.local.api import LocalApi, start_inference_server
        from flywheel.local.endpoint import LocalEndpoint
        from flywheel.observability.local_sink import EmfBridge, read_back

        work = self.out / "serving"
        prompts = synthetic.prompts_for(synthetic.ROUND_SUBJECTS) * self.size.rounds
        latencies, log = [], []
        counts = {"requests": 0, "feedback_sent": 0, "ties": 0, "filtered": 0, "errors": 0}
        work.mkdir(parents=True, exist_ok=True)
        api_log = (work / "api.log").open("w")
        saved_stdout = os.dup(1)
        since = time.time()
        with ExitStack() as stack_:
            # The handlers' EMF metric lines go to stdout, as in Lambda: into the log, not the console.
            sys.stdout.flush()
            os.dup2(api_log.fileno(), 1)
            stack_.callback(lambda: (sys.stdout.flush(), os.dup2(saved_stdout, 1), api_log.close()))
            container = start_inference_server(work / "serve")
            stack_.callback(container.stop)
            endpoint = stack_.enter_context(LocalEndpoint(container.url, work / "models", names=names,
                                                          s3_client=stack.client("s3")))
            env = {**self.env, "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": endpoint.url,
                   "POWERTOOLS_TRACE_DISABLED": "true", "POWERTOOLS_LOG_LEVEL": "WARNING"}
            api = stack_.enter_context(LocalApi(env, workers=2).start(warm=("chat", "feedback")))
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
        # What CloudWatch Logs does for the Lambdas and the endpoint in AWS: their EMF lines (read once
        # the processes have stopped and flushed) become metrics in the stack's CloudWatch, read back
        # under the dashboard's roll-up.
        bridge = EmfBridge(client=stack.client("cloudwatch"), keep_logs=False)
        logs = [work / "api.log", work / "serve" / "serve.log"]
        for path in logs:
            bridge.feed_file(path)
        bridge.flush()
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
            self.stage("preference_tune", self.job, "preference_tune", "preference.py", [
                "--objective", "dpo", "--init-from", str(champion), "--train-dir", str(prefs["channel"]),
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

            from flywheel.data.lake import Lake

            deployed_dir = challenger if second["deployed"] else champion
            lineage = self.stage("lineage", self.trace, names, s3, deployed_dir)
            versions = Lake(names).versions()

        return self.report_data(started, pretrain, sft, first_eval, first, serving, prefs, second_eval, second,
                                lineage, versions, deployed_dir)

    def report_data(self, started, pretrain, sft, first_eval, first, serving, prefs, second_eval, second,
                    lineage, versions, deployed_dir) -> dict:
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
