"""Review: manual qualitative evaluation. A rater labels each recommendation of a scenario and, blind, picks the
better of two configurations' lists. Every click is saved to SQLite at once, per rater, and read back on every
run, so nothing is lost on a page switch, a reload, or two raters working at the same time."""
from __future__ import annotations

import math

import pandas as pd
import streamlit as st

from recsys.store import agreement, config_key, precision_at_k, win_rates
from recsys.types import Query
from recsys.ui import loaders, scenarios, state, widgets
from recsys.ui.safe import csv_text, md

ss = st.session_state
catalog, store = loaders.catalog(), loaders.store()
LABEL_TEXT = {"relevant": "✓ relevant", "not_relevant": "✗ not relevant", "unsure": "? unsure"}
SOURCES = ("Example histories", "Saved sessions", "Users of a dataset")
KINDS = {"example": SOURCES[0], "session": SOURCES[1], "user": SOURCES[2]}
CONFIG_NAMES = [*scenarios.PRESETS, scenarios.CURRENT]

# A reload keeps the rater and the scenario: both are in the URL.
if "rev_link_read" not in ss:
    ss["rev_link_read"] = True
    if st.query_params.get("rater"):
        ss[state.RATER] = st.query_params["rater"][:100]
    if st.query_params.get("scenario"):
        ss["rev_scenario_id"] = st.query_params["scenario"]
        kind = ss["rev_scenario_id"].partition(":")[0]
        if kind in KINDS:
            ss["rev_source"] = KINDS[kind]
    pair = scenarios.pair_from_token(st.query_params.get("ab", ""), CONFIG_NAMES)
    if pair:
        ss["rev_x"], ss["rev_y"] = pair
    for key in ("x", "y"):  # links written before the pair was encoded
        if st.query_params.get(key) in CONFIG_NAMES:
            ss[f"rev_{key}"] = st.query_params[key]

st.title("Review")
st.caption("Judge recommendations by hand. Label each item of a scenario as relevant or not; in the blind "
           "side-by-side, two configurations are shown as A and B in random order and you pick the better list. "
           "Everything is saved as you click, under your name.")

rate_tab, results_tab = st.tabs(["Rate", "Results"], key="rev_tab", on_change="rerun")  # Results built when open


# -- saving callbacks ---------------------------------------------------------------------------------------------
def save_label(scenario_id: str, item_id: str, widget: str) -> None:
    value = ss.get(widget)
    label = next((k for k, v in LABEL_TEXT.items() if v == value), None)
    note = ss.get(f"rev_note_{scenario_id}_{item_id}", "")
    with widgets.guard("save the label"):
        loaders.store().save_label(ss[state.RATER], scenario_id, item_id, label, note or "")


def save_note(scenario_id: str, item_id: str) -> None:
    with widgets.guard("save the note"):
        note = ss.get(f"rev_note_{scenario_id}_{item_id}", "")
        loaders.store().save_note(ss[state.RATER], scenario_id, item_id, note)


def save_choice(scenario_id: str, x: tuple[str, str], y: tuple[str, str], a_is_x: bool, widget: str) -> None:
    picked = ss.get(widget)
    choice = {"A": "x" if a_is_x else "y", "B": "y" if a_is_x else "x", "Tie": "tie"}.get(picked)
    with widgets.guard("save the choice"):
        loaders.store().save_judgement(ss[state.RATER], scenario_id, x, y, "x" if a_is_x else "y", choice,
                                       ss.get(f"{widget}_note", "") or "")


# -- rating -------------------------------------------------------------------------------------------------------
def pick_scenario() -> scenarios.Scenario | None:
    source = state.kept(st.radio, "Scenarios", SOURCES, key="rev_source", horizontal=True,
                        help="Named example histories, sessions saved on the Recommend page, or real users of an "
                             "imported dataset (their last 10 items before the held-out one).")
    if source == SOURCES[0]:
        options = scenarios.example_scenarios(catalog)
    elif source == SOURCES[1]:
        options = scenarios.session_scenarios(catalog, store)
        if not options:
            st.info("No saved session yet: sessions are saved when you rank on the Recommend page.")
            return None
    else:
        datasets = scenarios.log_datasets(catalog)
        if not datasets:
            st.info("No imported dataset with users yet: import one on the Catalog page (e.g. ml-100k).")
            return None
        col, draw = st.columns([3, 1], vertical_alignment="bottom")
        dataset = col.selectbox("Dataset", datasets, key="rev_user_dataset")
        drawn = ss.setdefault("rev_users", {})
        wanted = ss.get("rev_scenario_id") or ""
        if wanted.startswith(f"user:{dataset}:") and (dataset not in drawn or drawn[dataset].id != wanted):
            with widgets.guard("open the user from the link"):
                drawn[dataset] = scenarios.resolve(catalog, store, wanted)
        if draw.button("Draw a user", width="stretch") or dataset not in drawn:
            with widgets.guard("draw a user"):
                drawn[dataset] = scenarios.user_scenario(catalog, dataset)
        options = [drawn[dataset]] if dataset in drawn else []
    wanted = ss.get("rev_scenario_id")
    by_id = {s.id: s for s in options}
    if wanted and wanted not in by_id and KINDS.get(wanted.partition(":")[0]) == source:  # from the link
        with widgets.guard("open the scenario from the link"):
            extra = scenarios.resolve(catalog, store, wanted)
            options, by_id = [extra, *options], {extra.id: extra, **by_id}
    if not options:
        return None
    ids = list(by_id)
    if ss.get("rev_scenario") not in ids:
        ss["rev_scenario"] = wanted if wanted in by_id else ids[0]
    chosen = st.selectbox("Scenario", ids, format_func=lambda i: by_id[i].label, key="rev_scenario")
    ss["rev_scenario_id"] = chosen
    return by_id[chosen]


def list_for(scenario: scenarios.Scenario, name: str, top: int):
    """The configuration's list for the scenario, ranked once per session and remembered in the database."""
    cfg = state.config() if name == scenarios.CURRENT else scenarios.PRESETS[name]
    key = (scenario.id, config_key(cfg, top))
    cache = ss.setdefault("rev_results", {})
    if key not in cache:
        query = Query(history=scenario.history, config=cfg, top=top, dataset=scenario.dataset)
        result = loaders.rank(query, label="Ranking a list")  # no configuration name: the A/B is blind
        store.save_list(scenario.id, scenario.label, scenario.history, name, cfg, top, result.model,
                        [r.item.id for r in result.recommendations])
        cache[key] = result
    return key[1], cache[key]


def show_list(title: str, scenario_id: str, result, column: str, labels: dict) -> None:
    st.markdown(f"#### {title}")
    for note in result.notes:
        st.caption(md(note))
    for rec in result.recommendations:
        item = rec.item
        widget = f"rev_label_{column}_{scenario_id}_{item.id}"
        saved = labels.get(item.id)
        ss[widget] = LABEL_TEXT.get(saved["label"]) if saved else None  # the database is the truth
        note_key = f"rev_note_{scenario_id}_{item.id}"
        with_note = column == "A" or not any(r.item.id == item.id for r in ss.get("rev_list_a", ()))
        if with_note:  # an item in both lists has its note under list A
            ss[note_key] = saved["note"] if saved else ""
        with st.container(border=True):
            st.markdown(f"**{rec.rank}. {md(item.title, 120)}**  \n{widgets.item_caption(item)}")
            st.segmented_control("Label", list(LABEL_TEXT.values()), key=widget, label_visibility="collapsed",
                                 on_change=save_label, args=(scenario_id, item.id, widget))
            if with_note:
                st.text_input("Note", key=note_key, placeholder="optional note", label_visibility="collapsed",
                              on_change=save_note, args=(scenario_id, item.id))


with rate_tab:
    rater = state.kept(st.text_input, "Your name", key=state.RATER, placeholder="e.g. Ana",
                       help="Labels and choices are kept per rater; use the same name to continue later.")
    scenario = pick_scenario()
    if scenario is not None:
        hist = catalog.get_items(scenario.history)
        st.markdown("**The history, oldest first**")
        st.text("  →  ".join(hist[i].title if i in hist else i for i in scenario.history))
        names = CONFIG_NAMES
        for key, default in (("rev_x", names[0]), ("rev_y", names[2]), ("rev_blind", True), ("rev_k", 5)):
            if state.value(key) is None:
                ss[key] = default
        c3, c4 = st.columns([1, 1.3], vertical_alignment="bottom")
        top = state.kept(c3.number_input, "List length", 1, 20, key="rev_k")
        blind = state.kept(c4.toggle, "Blind A/B", key="rev_blind",
                           help="Show a second configuration beside the first, sides drawn at random per "
                                "scenario, without names until you have chosen.")
        with st.expander("Configurations compared (hidden while you rate; for whoever sets up the session)"
                         if blind else "Configuration", expanded=not blind):
            c1, c2 = st.columns(2)
            state.kept(c1.selectbox, "Configuration 1", names, key="rev_x")
            state.kept(c2.selectbox, "Configuration 2", names, key="rev_y", disabled=not blind)
        link = {"rater": rater.strip(), "scenario": scenario.id,
                "ab": scenarios.pair_token(ss["rev_x"], ss["rev_y"])}
        link = {k: v for k, v in link.items() if v}
        if st.query_params.to_dict() != link:
            st.query_params.from_dict(link)
        if not rater.strip():
            st.info("Enter your name above to start rating.", icon=":material/edit:")
        else:
            with widgets.guard("rank the scenario"):
                x_key, x_result = list_for(scenario, ss["rev_x"], int(top))
                labels = {r["item_id"]: r for r in store.labels(rater=rater.strip(), scenario=scenario.id)}
                if blind and ss["rev_y"] != ss["rev_x"]:
                    y_key, y_result = list_for(scenario, ss["rev_y"], int(top))
                    x, y = (x_key, ss["rev_x"]), (y_key, ss["rev_y"])
                    a_is_x = scenarios.a_is_x(rater.strip(), scenario.id, x_key, y_key)
                    list_a, list_b = (x_result, y_result) if a_is_x else (y_result, x_result)
                    ss["rev_list_a"] = list_a.recommendations
                    left, right = st.columns(2, gap="large")
                    with left:
                        show_list("List A", scenario.id, list_a, "A", labels)
                    with right:
                        show_list("List B", scenario.id, list_b, "B", labels)
                    widget = f"rev_choice_{scenario.id}_{min(x_key, y_key)}_{max(x_key, y_key)}"
                    saved = [j for j in store.judgements(rater=rater.strip(), scenario=scenario.id)
                             if {j["x_key"], j["y_key"]} == {x_key, y_key}]
                    if saved:
                        j = saved[0]
                        mine = {"x": j["x_key"], "y": j["y_key"]}.get(j["choice"])
                        ss[widget] = "Tie" if j["choice"] == "tie" else ("A" if (mine == x_key) == a_is_x else "B")
                        ss.setdefault(f"{widget}_note", j["note"] or "")
                    else:
                        ss[widget] = None
                    st.markdown("#### Which list is better for this history?")
                    st.segmented_control("Better list", ["A", "B", "Tie"], key=widget, label_visibility="collapsed",
                                         on_change=save_choice, args=(scenario.id, x, y, a_is_x, widget))
                    st.text_input("Why (optional)", key=f"{widget}_note", on_change=save_choice,
                                  args=(scenario.id, x, y, a_is_x, widget))
                    ss["rev_blind_pending"] = not saved
                    if saved:
                        a_name, b_name = (x[1], y[1]) if a_is_x else (y[1], x[1])
                        st.success(f"Choice saved. **A** was “{md(a_name)}”, **B** was “{md(b_name)}”.",
                                   icon=":material/visibility:")
                    else:
                        st.caption("The configurations' names are shown once you have chosen.")
                else:
                    ss["rev_blind_pending"] = False
                    ss["rev_list_a"] = x_result.recommendations
                    show_list(f"List of “{md(ss['rev_x'])}”", scenario.id, x_result, "A", labels)
                shown = {r.item.id for r in ss["rev_list_a"]} | (
                    {r.item.id for r in list_b.recommendations} if blind and ss["rev_y"] != ss["rev_x"] else set())
                done = sum(1 for i in shown if i in labels)
                st.progress(done / max(len(shown), 1), text=f"You labelled {done} of {len(shown)} items here.")


# -- results ------------------------------------------------------------------------------------------------------
def pct(v: float) -> str:
    return "–" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{100 * v:.1f}%"


def show_results() -> None:
    """Win rates, precision@K and agreement over every rater's labels and choices, and their export."""
    all_labels, all_judgements, lists = store.labels(), store.judgements(), store.lists()
    st.markdown(f"**{len({r['rater'] for r in all_labels} | {j['rater'] for j in all_judgements})} rater(s), "
                f"{len(all_labels)} label(s), {len(all_judgements)} A/B judgement(s).**")
    st.subheader("Blind A/B: win rates")
    rates = win_rates(all_judgements)
    if rates and ss.get("rev_blind_pending"):
        st.caption(f"{len(all_judgements)} A/B judgement(s) so far; the win rates, which name the configurations, "
                   "are shown once you have chosen.")
    elif rates:
        st.dataframe(pd.DataFrame([{
            "configuration X": w.x_name, "configuration Y": w.y_name, "X wins": w.x_wins, "Y wins": w.y_wins,
            "ties": w.ties, "judgements": w.n, "X win rate": pct(w.rate),
            "95% interval": f"{pct(w.low)} – {pct(w.high)}"} for w in rates]), hide_index=True, width="stretch")
        st.caption("X's share of wins, a tie counting half; Wilson score interval.")
        for w in rates:
            st.markdown(f"“{md(w.x_name)}” against “{md(w.y_name)}”: win rate **{pct(w.rate)}** over {w.n} "
                        f"judgement(s)", help="The first configuration's share of wins, a tie counting half.")
    else:
        st.caption("No A/B judgement yet.")
    st.subheader("Precision@K from the labels")
    k = st.slider("K", 1, 20, 5, key="rev_results_k")
    prec = precision_at_k(lists, all_labels, k)
    if prec:
        frame = pd.DataFrame(prec)
        frame["precision"] = frame["precision"].map(pct)
        st.dataframe(frame.drop(columns=["config_key"]), hide_index=True, width="stretch")
        st.caption("Of the top-K items a rater labelled relevant or not relevant, the share labelled relevant; "
                   "averaged over (rater, scenario) lists. Unsure and unlabelled items are left out.")
    else:
        st.caption("No labels yet.")
    st.subheader("Agreement between raters")
    agree_labels = agreement(all_labels, ("scenario", "item_id"), "label")
    agree_choices = agreement([dict(j, pair=f"{j['x_key']}|{j['y_key']}") for j in all_judgements],
                              ("scenario", "pair"), "choice")
    if agree_labels or agree_choices:
        rows = [dict(r, on="labels") for r in agree_labels] + [dict(r, on="A/B choices") for r in agree_choices]
        frame = pd.DataFrame(rows)
        frame["agreement"] = frame["agreement"].map(pct)
        frame["kappa"] = frame["kappa"].map(lambda v: "–" if math.isnan(v) else f"{v:.2f}")
        st.dataframe(frame[["on", "rater_1", "rater_2", "shared", "agreement", "kappa"]], hide_index=True,
                     width="stretch")
        st.caption("Over the things both raters judged: the share they agree on and Cohen's kappa (0 = chance).")
    else:
        st.caption("Agreement needs two raters who judged the same items.")
    st.subheader("Export")
    a, b, c = st.columns(3)
    columns = ["rater", "scenario", "item_id", "label", "note", "created", "updated"]
    a.download_button("Labels (CSV)", lambda: csv_text(pd.DataFrame(all_labels, columns=columns)),
                      file_name="review-labels.csv", mime="text/csv", on_click="ignore", width="stretch")
    b.download_button("A/B judgements (CSV)", lambda: csv_text(pd.DataFrame(all_judgements)),
                      file_name="review-judgements.csv", mime="text/csv", on_click="ignore", width="stretch")
    summary = [{"kind": "win rate", "what": f"{w.x_name} vs {w.y_name}", "value": w.rate, "low": w.low,
                "high": w.high, "n": w.n} for w in rates]
    summary += [{"kind": f"precision@{k}", "what": p["config"], "value": p["precision"], "n": p["lists"]}
                for p in precision_at_k(lists, all_labels, k)]
    c.download_button("Summary (CSV)", lambda: csv_text(pd.DataFrame(summary)), file_name="review-summary.csv",
                      mime="text/csv", on_click="ignore", width="stretch")


if results_tab.open:
    with results_tab:
        show_results()
