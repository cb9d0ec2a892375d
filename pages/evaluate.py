"""Evaluate: run an offline evaluation (LLMRank-20 or full ranking) on an imported dataset with a progress bar, and
read stored evaluations back: metrics with 95% intervals, paired comparisons, ROC and PR curves, exports."""
from __future__ import annotations

import importlib
import json
import math

import pandas as pd
import streamlit as st

from recsys.demo import DEMO_LOG
from recsys.ui import loaders, scenarios, state, widgets
from recsys.ui.safe import csv_text, md

ss = st.session_state
st.title("Evaluate")
st.caption("Offline evaluation with the protocols the field uses: each user's last item is held out and ranked "
           "among candidates by every method on the same users; metrics are means in percent with bootstrap "
           "95% intervals.")

NEEDED = ("run_evaluation", "list_evaluations", "load_evaluation", "EvalSpec")
try:
    evaluate = importlib.import_module("recsys.evaluate")
except ImportError:
    evaluate = None
if evaluate is None or not all(hasattr(evaluate, f) for f in NEEDED):
    st.info("The evaluation harness is not available in this installation, so there is nothing to run here yet. "
            "Rankings can still be judged by hand on the Review page.", icon=":material/science:")
    st.stop()

catalog = loaders.catalog()
METRICS = ("ndcg@1", "ndcg@5", "ndcg@10", "ndcg@20", "hr@1", "hr@5", "hr@10", "hr@20", "mrr", "roc_auc", "pr_auc")


def number(v, digits: int = 2) -> str:
    return "–" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.{digits}f}"


def show(result, prefix: str) -> None:
    """One evaluation: what was run, the metrics table, comparisons, curves, exports."""
    spec = result.spec
    st.markdown(f"**{md(spec.dataset)}** · {md(spec.protocol)} · split {md(spec.split)} · {result.users} users · "
                f"{len(result.methods)} methods · {number(result.timings.get('total_s'), 1)} s"
                + (f" · {md(result.created[:16].replace('T', ' '))}" if result.created else ""))
    for note in result.notes:
        st.caption(md(note))
    rows = []
    for name, m in result.methods.items():
        row = {"method": name}
        for k in METRICS:
            if k in m.metrics:
                row[k] = m.metrics[k]
        lo, hi = m.ci95.get("ndcg@10", (float("nan"), float("nan")))
        row["ndcg@10 95% CI"] = f"{number(lo, 1)} – {number(hi, 1)}"
        row["description"] = m.description
        rows.append(row)
    frame = pd.DataFrame(rows)
    best = frame["ndcg@10"].max() if "ndcg@10" in frame else None
    st.dataframe(frame, hide_index=True, width="stretch",
                 column_config={k: st.column_config.NumberColumn(format="%.3f" if k.endswith("auc") else "%.2f")
                                for k in METRICS})
    if best is not None:
        top = frame.loc[frame["ndcg@10"].idxmax(), "method"]
        st.caption(f"Best NDCG@10: {md(top)} ({best:.2f}). Rank metrics in percent; ROC/PR AUC over all candidate "
                   "scores (target = positive).")
    if result.comparisons:
        with st.expander("Paired differences (same users, bootstrap 95% interval, points)"):
            st.dataframe(pd.DataFrame([{"comparison": k, **{m: f"{v[0]:+.2f} [{v[1]:+.2f}, {v[2]:+.2f}]"
                                                            for m, v in d.items()}}
                                       for k, d in result.comparisons.items()]), hide_index=True, width="stretch")
    anchors = getattr(evaluate, "ANCHORS", None)
    if anchors and spec.protocol == "llmrank20":
        with st.expander("Published LLMRank-20 anchors (NDCG@10, other datasets)"):
            st.dataframe(pd.DataFrame([{"dataset": d, "method": m, "ndcg@10": v} for d, ms in anchors.items()
                                       for m, v in ms.items()]), hide_index=True, width="stretch")
    try:
        from recsys.evaluate.curves import pr_figure, roc_figure
    except ImportError:
        roc_figure = pr_figure = None
    if roc_figure is not None:
        left, right = st.columns(2)
        for col, build, name in ((left, roc_figure, "roc"), (right, pr_figure, "pr")):
            with col:
                fig = widgets.readable_curves(build(result))
                widgets.chart(fig, key=f"{prefix}_{name}", name=f"{spec.dataset}-{name}")
    a, b, c = st.columns(3)
    a.download_button("Metrics (CSV)", lambda: csv_text(frame), file_name=f"evaluation-{result.id or 'new'}.csv",
                      mime="text/csv", on_click="ignore", width="stretch", key=f"{prefix}_csv")
    b.download_button("Result (JSON, as --json)", lambda: json.dumps(result.to_dict(), indent=2, allow_nan=True),
                      file_name=f"evaluation-{result.id or 'new'}.json", mime="application/json",
                      on_click="ignore", width="stretch", key=f"{prefix}_json")
    if hasattr(result, "markdown"):
        c.download_button("Report (Markdown)", lambda: result.markdown(), file_name=f"evaluation-{result.id}.md",
                          mime="text/markdown", on_click="ignore", width="stretch", key=f"{prefix}_md")


stored_tab, run_tab = st.tabs(["Stored evaluations", "Run an evaluation"])

with run_tab:
    datasets = scenarios.log_datasets(catalog)
    if not datasets:
        st.info("An evaluation needs a dataset with users (an interaction log or sequences). Import one on the "
                "Catalog page, e.g. the shared ml-100k.", icon=":material/upload:")
    else:
        methods_all = list(dict.fromkeys([*evaluate.GROUPS.get("all", ()), *evaluate.DEFAULT_METHODS]))
        quick = [m for m in ("random", "pop", "bm25", "embed", "embed+pop", "fused") if m in methods_all]
        with st.form("eval_form"):
            c1, c2, c3 = st.columns(3)
            dataset = c1.selectbox("Dataset", datasets, key="eval_dataset")
            protocol = c2.selectbox("Protocol", evaluate.PROTOCOLS, key="eval_protocol",
                                    help="llmrank20: the target among 19 random negatives (Hou et al.); full: "
                                         "retrieval over the whole catalog, then re-ranking.")
            split = c3.selectbox("Split", ["test", "valid"], key="eval_split")
            methods = st.multiselect("Methods", methods_all, default=quick, key="eval_methods",
                                     help="Baselines (random, pop, bm25, embed) and language-model variants "
                                          "(lm-{raw|pmi}-{product|mixture}, +pop, +embed; fused = all terms).")
            c4, c5, c6 = st.columns(3)
            users = c4.number_input("Users (first N; 0 = all)", 0, 100_000, 50, key="eval_users",
                                    help="The language model takes about a second per user on a CPU.")
            seed = c5.number_input("Seed", 0, 2**31 - 1, 0, key="eval_seed")
            current = c6.toggle("Use the Recommend page's settings", key="eval_current",
                                help="Off: the defaults (the measured best settings).")
            submitted = st.form_submit_button("Run", type="primary")
        if submitted:
            from recsys.config import ScoringConfig

            spec = evaluate.EvalSpec(dataset=dataset, protocol=protocol, methods=tuple(methods), seed=int(seed),
                                     split=split, limit_users=int(users) or None,
                                     config=state.config() if current else ScoringConfig())
            bar = st.progress(0.0, text="Building the users and candidates…")

            def progress(done: int, total: int, seconds: float) -> None:
                left = seconds / done * (total - done) if done else 0
                bar.progress(done / max(total, 1), text=f"User {done} of {total} · {seconds:.0f} s so far, "
                                                        f"about {left:.0f} s left")

            with widgets.guard("run the evaluation"):
                with st.spinner("Evaluating every method on the same users…"):
                    result = evaluate.run_evaluation(catalog, spec, models=loaders.models(), progress=progress)
                bar.empty()
                if hasattr(evaluate, "store"):
                    evaluate.store(catalog.db, result)
                ss["eval_last"] = result.id
                st.success(f"Done in {number(result.timings.get('total_s'), 1)} s and stored.")
                show(result, "eval_new")

with stored_tab:
    stored = evaluate.list_evaluations(catalog.db)
    if not stored:
        st.info("No stored evaluation yet: run one in the next tab.", icon=":material/science:")
    else:
        labels = {e.id: f"{e.created[:16].replace('T', ' ')} · {e.dataset} · {e.protocol} · {e.users} users · "
                        f"{len(e.methods)} methods" for e in stored}
        ids = list(labels)
        if ss.get("eval_pick") not in ids:
            ss["eval_pick"] = ss.get("eval_last") if ss.get("eval_last") in ids else ids[0]
        pick = st.selectbox("Evaluation", ids, format_func=labels.get, key="eval_pick")
        if next(e for e in stored if e.id == pick).dataset == DEMO_LOG:
            st.caption("The demo log: 120 invented viewers of the movie catalog, written for this project so that "
                       "an evaluation runs without any download. Run the language-model methods on it (or on an "
                       "imported dataset such as ml-100k) in the next tab.")
        with widgets.guard("load the evaluation"):
            show(evaluate.load_evaluation(catalog.db, pick), "eval_stored")
