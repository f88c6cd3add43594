"""The turn's report: report.json (machine-readable), report.md and report.html with PNG charts.

`write(out, result)` takes what `flywheel.local.turn` measured (stage timings, training histories,
both evaluations, serving latencies and feedback counts, the preference round, the deployed model's
lineage) and writes, under `out`:

    report.json        the result as is; `preference_round` = {metric, champion, challenger, margin, gate};
                       `rollout` = the canary bake's decision, controller ticks, share history and rates;
                       `constitution` = the Constitutional AI stages' counts;
                       `metrics` = {catalogue metric: CloudWatch statistics}, `emf` = documents, malformed
    report.md          stages, data, models, the round's verdict, with the charts linked
    report.html        the same, self-contained apart from the PNGs next to it
    charts/*.png       loss curves, win rates, safety (red-team flag) rates, latency histogram, feedback volume

It draws what it is given and knows nothing of how it was measured; a missing series gives a chart
that says so rather than an error.

    python -m flywheel.local.report runs/turn/turn.json      # redraw from a saved result
"""

from __future__ import annotations

import html
import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display on a build machine
import matplotlib.pyplot as plt


def _save(fig, path: Path) -> str:
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path.name


def _empty(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes)
    ax.set_xticks([])
    ax.set_yticks([])


def loss_chart(result: dict, path: Path) -> str:
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.2))
    for ax, (name, title) in zip(axes, (("train", "pretraining"), ("fine_tune", "SFT from pretrained"),
                                         ("preference_tune", "DPO from champion"))):
        history = result.get("training", {}).get(name) or []
        points = [(h.get("step"), h.get("train_loss")) for h in history if h.get("train_loss") is not None]
        if points:
            ax.plot([p[0] for p in points], [p[1] for p in points], marker=".")
            ax.set_xlabel("step")
            ax.set_ylabel("train loss")
        else:
            _empty(ax, "no loss history")
        ax.set_title(title)
    return _save(fig, path)


def win_chart(result: dict, path: Path) -> str:
    fig, ax = plt.subplots(figsize=(5, 3.2))
    pr = result.get("preference_round") or {}
    if pr.get("challenger") is None:
        _empty(ax, "no win rate")
    else:
        ax.bar(["champion", "challenger"], [pr["champion"], pr["challenger"]], color=["#888", "#2a7"])
        ax.axhline(0.5, color="k", lw=0.8, ls="--")
        ax.set_ylim(0, 1)
        ax.set_ylabel("share of judged comparisons won")
        ax.set_title(f"{pr.get('metric')}: gate {pr.get('gate')}")
    return _save(fig, path)


def safety_chart(result: dict, path: Path) -> str:
    fig, ax = plt.subplots(figsize=(5, 3.2))
    bars = {}
    for key, label in (("first_model", "first model"), ("challenger", "challenger")):
        models = ((result.get(key) or {}).get("evaluation") or {}).get("models") or {}
        for role, m in models.items():
            if m.get("flag_rate") is not None:
                bars[f"{label}\n({role})" if key == "first_model" else role] = m["flag_rate"]
    if bars:
        ax.bar(list(bars), list(bars.values()), color="#c63")
        ax.set_ylim(0, 1)
        ax.set_ylabel("red-team answers flagged")
    else:
        _empty(ax, "no red-team rates")
    ax.set_title("safety: flag rate")
    return _save(fig, path)


def latency_chart(result: dict, path: Path) -> str:
    fig, ax = plt.subplots(figsize=(5, 3.2))
    latencies = (result.get("serving") or {}).get("latency_s") or []
    if latencies:
        ax.hist([x * 1000 for x in latencies], bins=min(20, max(5, len(latencies) // 3)), color="#36c")
        ax.set_xlabel("chat request latency (ms, n=2 answers, through the API)")
        ax.set_ylabel("requests")
    else:
        _empty(ax, "no requests")
    ax.set_title("latency")
    return _save(fig, path)


def feedback_chart(result: dict, path: Path) -> str:
    fig, ax = plt.subplots(figsize=(5, 3.2))
    s = result.get("serving") or {}
    counts = {"requests": s.get("requests", 0), "errors": s.get("errors", 0), "filtered": s.get("filtered", 0), "ties (no view)": s.get("ties", 0),
              "feedback": s.get("feedback_sent", 0), "pairs built": (result.get("preferences") or {}).get("pairs", 0)}
    ax.bar(list(counts), list(counts.values()), color="#693")
    ax.set_title("feedback volume")
    ax.tick_params(axis="x", labelrotation=20)
    return _save(fig, path)


CHARTS = (("loss curves", "loss.png", loss_chart), ("win rates", "win_rates.png", win_chart),
          ("safety rates", "safety.png", safety_chart), ("latency", "latency.png", latency_chart),
          ("feedback volume", "feedback.png", feedback_chart))


def _fmt(value) -> str:
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def markdown(result: dict, charts: dict[str, str]) -> str:
    pr = result["preference_round"]
    lines = ["# Flywheel turn", "",
             (f"Seed {result.get('seed')}, preset `{result.get('preset')}`, "
              f"total {_fmt(result.get('total_seconds'))} s."),
             "", "## Preference round", "",
             (f"- metric `{pr['metric']}`: challenger {_fmt(pr['challenger'])}, champion {_fmt(pr['champion'])}, "
              f"margin {_fmt(pr['margin'])}"), f"- gate: **{pr['gate']}**"]
    reasons = ((result.get("challenger") or {}).get("evaluation") or {}).get("reasons") or []
    lines += [f"- reason: {r}" for r in reasons]
    lines += ["", "## Stages", "", "| stage | seconds |", "| --- | ---: |"]
    lines += [f"| {s['stage']} | {s['seconds']} |" for s in result.get("stages", [])]
    lines += ["", "## Data", ""]
    for name, d in (result.get("data") or {}).items():
        if isinstance(d, dict):
            lines.append(f"- {name}: `{d.get('data_version')}` ({d.get('kind')}), {d.get('documents_in')} in, "
                         f"{d.get('documents_kept')} kept; dropped {json.dumps(d.get('dropped'))}")
    lines += ["", "## Models", ""]
    for key in ("first_model", "challenger"):
        m = result.get(key) or {}
        routing = m.get("routing") or {}
        lines.append(f"- {key}: `{m.get('version')}`: gate {m.get('gate')}, registered "
                     f"{(m.get('package') or {}).get('approval')}, deployed {m.get('deployed')}; routing after: "
                     f"champion `{routing.get('champion')}`, canary `{routing.get('canary')}` "
                     f"({routing.get('state')})")
    lineage = (result.get("deployed") or {}).get("lineage") or {}
    lines.append(f"- deployed model `{lineage.get('model_version')}` traces to data `{lineage.get('data_version')}` "
                 f"({lineage.get('curated_uri')})")
    s = result.get("serving") or {}
    lines += ["", "## Users", "",
              (f"- {s.get('requests')} chat requests (n=2) through the API, {s.get('errors')} errors, "
               f"{s.get('filtered')} refused by the input guard, "
               f"{s.get('feedback_sent')} comparisons posted, {s.get('ties')} ties; "
               f"{_fmt(s.get('warm_answer_share'))} of answers warm"),
              f"- {(result.get('preferences') or {}).get('pairs')} preference pairs built from the lake"]
    lines += constitution_lines(result) + rollout_lines(result)
    metrics, emf = result.get("metrics") or {}, result.get("emf") or {}
    lines += ["", "## Metrics (CloudWatch, read back)", "",
              (f"- {emf.get('documents')} EMF documents from {', '.join(emf.get('logs') or [])}; "
               f"{emf.get('malformed')} malformed (dropped, as CloudWatch drops them)")]
    if metrics:
        lines += ["", "| metric | unit | samples | sum | average | min | max |",
                  "| --- | --- | ---: | ---: | ---: | ---: | ---: |"]
        lines += [f"| {name} | {m['Unit']} | {m['SampleCount']:g} | {_fmt(m['Sum'])} | {_fmt(m['Average'])} | "
                  f"{_fmt(m['Minimum'])} | {_fmt(m['Maximum'])} |" for name, m in sorted(metrics.items())]
    samples = ((result.get("challenger") or {}).get("evaluation") or {}).get("samples") or []
    if samples:
        lines += ["", "## Samples (held-out subjects)", ""]
        lines += [f"- **{x['prompt']}** challenger: {x['challenger']!r} / champion: {x['champion']!r}"
                  for x in samples]
    lines += ["", "## Charts", ""] + [f"![{title}](charts/{file})" for title, file in charts.items()]
    return "\n".join(lines) + "\n"


def constitution_lines(result: dict) -> list[str]:
    cai, data = result.get("constitution"), result.get("preference_data") or {}
    if not cai:
        return []
    sl, rl = cai.get("supervised") or {}, cai.get("ai_feedback") or {}
    violated = {k.split(".", 1)[1]: v for k, v in sl.items() if k.startswith("violated.")}
    dropped = {k.split(".", 1)[1]: v for k, v in rl.items() if k.startswith("dropped.")}
    pairs = data.get("pairs") or {}
    return ["", "## Constitutional AI", "",
            (f"- `{cai.get('constitution')}` on {cai.get('prompts')} red-team prompts, two answers each from "
             f"`{cai.get('model')}`"),
            (f"- supervised stage: {sl.get('answers', 0)} answers critiqued, {sl.get('clean', 0)} clean, "
             f"{sl.get('revised', 0)} revised (violations by principle: {json.dumps(violated)})"),
            (f"- RL stage: {rl.get('pairs', 0)} AI-feedback pairs labelled by the constitution's judge; "
             f"dropped {json.dumps(dropped)}"),
            (f"- preference round trained on `{data.get('version')}`: {pairs.get('users')} users' pairs, "
             f"{pairs.get('ai_feedback')} AI-feedback pairs, {pairs.get('cai_revision')} revisions")]


def rollout_lines(result: dict) -> list[str]:
    r = result.get("rollout")
    if not r:
        return []
    lines = ["", "## Rollout (canary bake)", "", f"- decision: **{r.get('decision')}** ({r.get('reason')})"]
    cfg = r.get("config") or {}
    if cfg:
        lines.append(f"- canary `{r.get('candidate')}` at {cfg.get('share', 0):.0%} of traffic, bake "
                     f"{cfg.get('bake_seconds')} s; rolls back above {cfg.get('max_error_rate')} errors or "
                     f"{cfg.get('max_thumbs_down_rate')} thumbs-down")
    for arm, c in sorted((r.get("served") or {}).items()):
        lines.append(f"- served by the {arm}: {json.dumps(c)}")
    if r.get("ticks"):
        header = ("| tick at (s) | action | state | canary share | requests | errors | thumbs up | thumbs down "
                  "| thumbs-down rate |")
        lines += ["", header, "| ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for t in r["ticks"]:
            st = t.get("stats") or {}
            lines.append(f"| {t.get('at_s')} | {t.get('action')} | {t.get('state')} | {_fmt(t.get('canary_share'))} | "
                         f"{st.get('requests')} | {st.get('errors')} | {st.get('thumbs_up')} | "
                         f"{st.get('thumbs_down')} | {_fmt(st.get('thumbs_down_rate'))} |")
    return lines


def to_html(md: str) -> str:
    """A small Markdown subset (headings, bullets, tables, images) is all the report uses."""
    body, table = [], []

    def flush_table():
        if table:
            rows = [r for r in table if not set(r.replace("|", "").strip()) <= {"-", ":", " "}]
            cells = [[html.escape(c.strip()) for c in r.strip("|").split("|")] for r in rows]
            body.append("<table>" + "".join(
                "<tr>" + "".join(f"<{'th' if i == 0 else 'td'}>{c}</{'th' if i == 0 else 'td'}>" for c in row) + "</tr>"
                for i, row in enumerate(cells)) + "</table>")
            table.clear()

    for line in md.splitlines():
        if line.startswith("|"):
            table.append(line)
            continue
        flush_table()
        if line.startswith("!["):
            alt, src = line[2:].split("](", 1)
            body.append(f'<figure><img src="{html.escape(src[:-1])}" alt="{html.escape(alt)}">'
                        f"<figcaption>{html.escape(alt)}</figcaption></figure>")
        elif line.startswith("#"):
            level = len(line) - len(line.lstrip("#"))
            body.append(f"<h{level}>{html.escape(line[level:].strip())}</h{level}>")
        elif line.startswith("- "):
            body.append(f"<li>{html.escape(line[2:]).replace('**', '')}</li>")
        elif line.strip():
            body.append(f"<p>{html.escape(line)}</p>")
    flush_table()
    return ("<!doctype html><html><head><meta charset='utf-8'><title>Flywheel turn</title><style>"
            "body{font-family:sans-serif;max-width:60em;margin:auto}td,th{padding:2px 8px;border-bottom:1px solid #ddd}"
            "img{max-width:100%}</style></head><body>" + "\n".join(body) + "</body></html>\n")


def write(out: Path, result: dict) -> dict[str, Path]:
    out = Path(out)
    charts_dir = out / "charts"
    charts_dir.mkdir(parents=True, exist_ok=True)
    charts = {title: draw(result, charts_dir / file) for title, file, draw in CHARTS}
    (out / "report.json").write_text(json.dumps(result, indent=2, default=str))
    md = markdown(result, charts)
    (out / "report.md").write_text(md)
    (out / "report.html").write_text(to_html(md))
    return {"json": out / "report.json", "markdown": out / "report.md", "html": out / "report.html",
            "charts": [charts_dir / f for f in charts.values()]}


if __name__ == "__main__":
    source = Path(sys.argv[1])
    print(write(source.parent, json.loads(source.read_text())))
