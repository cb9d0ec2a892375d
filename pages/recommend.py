"""Recommend: build an ordered history of liked items, rank a catalog for it, and see why each item ranks where
it does. The page's state is in the URL, so a link reproduces it."""
from __future__ import annotations

import json
import random
from dataclasses import replace
from urllib.parse import urlencode

import pandas as pd
import streamlit as st

from recsys import charts, explain
from recsys.catalog import example_histories
from recsys.types import LM, PRIOR, SIMILARITY, Query
from recsys.ui import loaders, state, widgets
from recsys.ui.safe import csv_text, md
from recsys.ui.share import parse_params, to_params

ss = st.session_state
catalog = loaders.catalog()
state.init()


# -- the link ---------------------------------------------------------------------------------------------------
def read_link() -> None:
    """Once per session: a link's history and settings, with a warning for each part that cannot be used."""
    page, notices = parse_params(st.query_params.to_dict())
    if not st.query_params:
        return
    datasets = {d.name for d in catalog.datasets()}
    if page.dataset and page.dataset not in datasets:
        notices.append(f"the link's dataset {page.dataset!r} is not in this database; ignored")
        page = replace(page, dataset=None)
    found = catalog.get_items([*page.history, *page.exclude])
    unknown = [i for i in [*page.history, *page.exclude] if i not in found]
    if unknown:
        notices.append(f"{len(unknown)} item(s) in the link are not in this catalog and were left out: "
                       + ", ".join(repr(i) for i in unknown[:5]))
    history = [i for i in page.history if i in found]
    dataset = page.dataset or (found[history[0]].dataset if history else None)
    other = [i for i in history if found[i].dataset != dataset]
    if other:
        notices.append(f"{len(other)} history item(s) belong to another dataset than {dataset!r}; left out")
    history = [i for i in history if i not in other]
    exclude = [i for i in page.exclude if i in found and found[i].dataset == dataset]
    page = replace(page, dataset=dataset, history=tuple(history), exclude=tuple(exclude),
                   emphasis=page.emphasis if page.emphasis in history else None)
    state.apply(page)
    ss[state.NOTICES] = notices
    if history:
        ss[state.RUN] = True


if state.LINK_READ not in ss:
    ss[state.LINK_READ] = True
    if st.query_params.get("rater"):  # who made the session (as on the Review page): stored with it
        ss[state.RATER] = st.query_params["rater"][:100]
    read_link()


def user() -> str:
    return (state.value(state.RATER) or "").strip()


# -- callbacks (run before the page is drawn) ---------------------------------------------------------------------
def on_dataset_change() -> None:
    ss[state.HISTORY], ss[state.EMPHASIS], ss[state.EXCLUDE] = [], None, []
    ss.pop(state.RESULT, None)


def add(item_id: str) -> None:
    if item_id not in ss[state.HISTORY]:
        ss[state.HISTORY] = [*ss[state.HISTORY], item_id]


def remove(item_id: str) -> None:
    ss[state.HISTORY] = [i for i in ss[state.HISTORY] if i != item_id]
    if ss[state.EMPHASIS] == item_id:
        ss[state.EMPHASIS] = None


def move(k: int, step: int) -> None:
    h = list(ss[state.HISTORY])
    h[k], h[k + step] = h[k + step], h[k]
    ss[state.HISTORY] = h


def emphasise(item_id: str) -> None:
    ss[state.EMPHASIS] = None if ss[state.EMPHASIS] == item_id else item_id


def use_history(ids: list[str]) -> None:
    ss[state.HISTORY], ss[state.EMPHASIS], ss[state.EXCLUDE] = list(ids), None, []
    request_run()


def request_run() -> None:
    ss[state.RUN] = True
    ss.pop(state.FEEDBACK, None)  # a new list, not a re-rank after feedback
    ss.pop(state.KEEP_CANDIDATES, None)


def feedback(item_id: str, value: str) -> None:
    """Store a like or dislike with the session, settings and model; a like joins the history, a dislike is
    never recommended again; either way the list is re-ranked at once."""
    result = ss[state.RESULT]
    inputs = ss[state.RESULT_INPUTS]
    with widgets.guard("save the feedback"):
        session_id = ss.get(state.SESSION_ID) or loaders.store().save_session(
            None, inputs.history, settings_of(inputs), result.model, user=user())
        ss[state.SESSION_ID] = session_id
        loaders.store().add_feedback(session_id, item_id, value, settings_of(inputs), result.model)
    title = catalog.get_items([item_id]).get(item_id)
    name = title.title if title else item_id
    ss[state.FEEDBACK] = (result, item_id if value == "like" else None, item_id if value != "like" else None)
    # the re-rank keeps this list's candidates: every cached pair is reused and only a liked item's row is new
    ss[state.KEEP_CANDIDATES] = (result.query.config, result.query.dataset,
                                 tuple(i for i in result.candidate_ids if i != item_id))
    if value == "like":
        add(item_id)
        ss[state.NOTICES] = ss.get(state.NOTICES, []) + [("like", f"Added “{name}” to the history and re-ranked.")]
    else:
        ss[state.EXCLUDE] = [*ss[state.EXCLUDE], item_id]
        ss[state.NOTICES] = ss.get(state.NOTICES, []) + [("dislike", f"“{name}” will not be recommended again.")]
    ss[state.RUN] = True


def settings_of(inputs) -> dict:
    return {**inputs.config.to_dict(), "top": inputs.top, "dataset": inputs.dataset,
            "emphasis": state.emphasis_map(inputs), "exclude": list(inputs.exclude)}


# -- sidebar ----------------------------------------------------------------------------------------------------
with st.sidebar:
    names = [d.name for d in catalog.datasets()]
    dataset = widgets.dataset_picker(catalog, state.DATASET, on_change=on_dataset_change,
                                     help="Where recommendations come from: a demo catalog or an imported dataset.")
widgets.settings_panel()
if not names:
    st.warning("This database holds no dataset. Import one on the Catalog page.")
    st.stop()

# -- header -----------------------------------------------------------------------------------------------------
st.title("Recommend")
st.caption("Pick a few things you liked, in the order you met them. A language model judges how likely each "
           "candidate is to come next after each of them; every score is split into what each liked item, the "
           "popularity prior and the similarity term contributed.")
for notice in ss.pop(state.NOTICES, []):
    if isinstance(notice, tuple):
        st.toast(md(notice[1]), icon=":material/thumb_up:" if notice[0] == "like" else ":material/thumb_down:")
    else:
        st.warning(f"From the link: {md(notice)}", icon=":material/link:")

def table(result) -> pd.DataFrame:
    """A row per recommendation: its score and every part of it, by liked item and term."""
    by_id = {i.id: f"{k + 1}. {i.title}" for k, i in enumerate(result.history)}
    rows = []
    for rec in result.recommendations:
        row = {"rank": rec.rank, "item_id": rec.item.id, "title": rec.item.title, "score": rec.score,
               "lm_share": charts.lm_share(rec.contributions)}
        for c in rec.contributions:
            name = "prior" if c.name == PRIOR else by_id.get(c.name[len("history:"):], c.name)
            row[name] = c.value
            if c.terms:
                row[f"{name} (LM)"], row[f"{name} (similarity)"] = c.term(LM), c.term(SIMILARITY)
        rows.append(row)
    return pd.DataFrame(rows)


def export(result, params: dict) -> None:
    """Downloads of the list, a chart, and the share link; files are made when clicked."""
    st.markdown("**The list and its explanations**")
    a, b = st.columns(2)
    a.download_button("JSON (as `recommend --json`)",
                      lambda: json.dumps(result.to_dict(), indent=2, ensure_ascii=False),
                      file_name="recommendations.json", mime="application/json", on_click="ignore",
                      width="stretch", key="rec_json")
    b.download_button("CSV (a row per item)", lambda: csv_text(table(result)), on_click="ignore",
                      file_name="recommendations.csv", mime="text/csv", width="stretch", key="rec_csv")
    st.markdown("**A chart**")
    figures = {"Heatmap": ("heatmap", charts.heatmap), "History weights": ("history-weights", charts.weights_bar)}
    options = [*(k for k in figures if k != "Heatmap" or result.history),
               *(f"Contributions #{r.rank}" for r in result.recommendations)]
    choice = st.selectbox("Chart", options, key="rec_export_fig")
    if choice.startswith("Contributions"):
        k = int(choice.split("#")[1])
        fig, name = charts.contribution_bars(result, k), f"contributions-{k}"
    else:
        name, build = figures[choice]
        fig = build(result)
    widgets.export_buttons(fig, name, key="rec_export")
    st.markdown("**Share**")
    base = (st.context.url or "").split("?")[0]
    st.code(f"{base}?{urlencode(params)}" if params else base or "/", language=None, wrap_lines=True)
    st.caption("Opening this link reproduces the history and settings (it is also in the address bar).")


left, right = st.columns([5, 7], gap="large")

# -- history ----------------------------------------------------------------------------------------------------
with left:
    st.subheader("Your history")
    examples = example_histories(dataset)
    if examples:
        def use_example() -> None:
            if ss.get("rec_example") is not None:
                use_history(examples[ss["rec_example"]]["history"])
                ss["rec_example_used"] = ss["rec_example"]
                ss["rec_example"] = None

        st.selectbox("Start from an example", range(len(examples)), index=None, key="rec_example",
                     format_func=lambda k: examples[k]["name"], placeholder="Choose a named history…",
                     on_change=use_example, help="Replaces the history with a named example and ranks it.")
        used = ss.get("rec_example_used")
        if used is not None and used < len(examples) and ss[state.HISTORY] == examples[used]["history"]:
            st.caption(f"{md(examples[used]['name'])}: {md(examples[used].get('description', ''))}")
    elif catalog.count("interactions", dataset) or catalog.count("sequences", dataset):
        def random_user() -> None:
            from recsys.datasets import eval_samples

            samples = list(eval_samples(catalog.db, dataset, max_history=10))
            if samples:
                use_history(list(random.choice(samples).history))

        st.button("Start from a random user's history", on_click=random_user, key="rec_random_user",
                  help="The last (up to 10) items of a random user in this dataset's log, oldest first.")

    query = st.text_input("Search the catalog", key="rec_search", placeholder="title, creator or tag",
                          help="Matches titles, creators and tags; the most popular first.")
    if query.strip():
        hits = catalog.search(query, dataset, limit=8)
        if not hits:
            st.caption("Nothing matches; try a shorter word.")
        for item in hits:
            text, act = st.columns([3, 1], vertical_alignment="center")
            text.markdown(f"**{md(item.title, 90)}**  \n{widgets.item_caption(item)}")
            act.button("Add", key=f"rec_add_{item.id}", on_click=add, args=(item.id,),
                       disabled=item.id in ss[state.HISTORY], help="Add to the end of the history (newest)")

    history = ss[state.HISTORY]
    items = catalog.get_items(history)
    if history:
        head, clear = st.columns([3, 1], vertical_alignment="center")
        head.markdown(f"**Liked, oldest first** ({len(history)})")
        clear.button("Clear", key="rec_clear", on_click=use_history, args=([],), type="tertiary",
                     icon=":material/delete_sweep:", help="Empty the history")
    for k, item_id in enumerate(history):
        item = items.get(item_id)
        # one row per liked item: the title and its caption on one line, the four buttons never wrapping below
        with st.container(border=True, horizontal=True, wrap=False, vertical_alignment="center", gap="small",
                          key=f"rec_hist_{k}"):
            starred = ss[state.EMPHASIS] == item_id
            if item:
                star = f" · **★ ×{ss[state.EMPHASIS_WEIGHT]:g}**" if starred else ""
                st.markdown(f"**{k + 1}.** {md(item.title, 26)}{star}", width="stretch",
                            help=f"{md(item.title)}  \n{widgets.item_caption(item, tags=False)}")
            else:
                st.markdown(f"**{k + 1}.** {md(item_id)} (not in the catalog)", width="stretch")
            st.button("", icon=":material/arrow_upward:", key=f"rec_up_{k}", on_click=move, args=(k, -1),
                      disabled=k == 0, help="Move earlier", type="tertiary")
            st.button("", icon=":material/arrow_downward:", key=f"rec_down_{k}", on_click=move,
                      args=(k, 1), disabled=k == len(history) - 1, help="Move later", type="tertiary")
            st.button("", icon=":material/star:" if starred else ":material/star_outline:",
                      key=f"rec_star_{k}", on_click=emphasise, args=(item_id,), type="tertiary",
                      help="Emphasise this item (weigh it more)")
            st.button("", icon=":material/close:", key=f"rec_drop_{k}", on_click=remove, args=(item_id,),
                      help="Remove from the history", type="tertiary")
    if ss[state.EMPHASIS]:
        state.kept(st.slider, "Emphasis on ★", 1.0, 10.0, step=0.5, key=state.EMPHASIS_WEIGHT,
                   help="The starred item's weight is multiplied by this before the weights are normalised.")
    if not history:
        st.info("Search above and add items you liked, or start from an example.", icon=":material/search:")
    st.button("Recommend", type="primary", width="stretch", on_click=request_run, key="rec_run_button",
              icon=":material/auto_awesome:")

# -- results ----------------------------------------------------------------------------------------------------
inputs = state.page_state()
params = to_params(inputs)
if st.query_params.to_dict() != params:
    st.query_params.from_dict(params)

with right:
    if ss.pop(state.RUN, False):
        keep = ss.pop(state.KEEP_CANDIDATES, None)
        candidates = keep[2] if keep and keep[:2] == (inputs.config, inputs.dataset) and keep[2] else None
        query = Query(history=inputs.history, config=inputs.config, top=inputs.top, candidates=candidates,
                      emphasis=state.emphasis_map(inputs), exclude=inputs.exclude, dataset=inputs.dataset)
        with widgets.guard("rank the candidates"):
            result = loaders.rank(query, label="Ranking")
            ss[state.RESULT], ss[state.RESULT_INPUTS] = result, inputs
            ss[state.SESSION_ID] = loaders.store().save_session(ss.get(state.SESSION_ID), inputs.history,
                                                                settings_of(inputs), result.model, user=user())
    result = ss.get(state.RESULT)
    if result is None:
        st.subheader("Recommendations")
        st.info("Add a few liked items (or pick an example) and press **Recommend**.", icon=":material/arrow_back:")
        st.stop()

    shown = ss[state.RESULT_INPUTS]
    st.subheader("Recommendations")
    if shown != inputs:
        st.warning("The history or settings changed since this list was made: press **Recommend** to re-rank.",
                   icon=":material/refresh:")
    st.markdown(widgets.result_summary(result), help=widgets.stage_timings(result))
    for note in result.notes:
        st.info(md(note), icon=":material/info:")
    feedback_event = ss.get(state.FEEDBACK)
    if feedback_event and feedback_event[0] is not result:
        before, liked, disliked = feedback_event
        changes = explain.feedback_changes(before, result, liked, disliked, name=lambda t: f"*{md(t, 80)}*")
        st.success("**What your feedback changed:** " + " ".join(changes), icon=":material/published_with_changes:")

    # Only what is open is built and sent: the tabs and each "why" expander rerun when opened, so a re-rank draws
    # one chart, not thirteen (the browser's drawing was most of a warm re-rank's time with eight sessions at once)
    list_tab, heat_tab, weight_tab, table_tab, export_tab = st.tabs(
        ["Ranked list", "Heatmap", "History weights", "Table", "Export & share"], key="rec_tab", on_change="rerun")
    for rec in result.recommendations:
        with list_tab, st.container(border=True):
            text, score, buttons = st.columns([5.5, 1.6, 1.9], vertical_alignment="center")
            text.markdown(f"**{rec.rank}. {md(rec.item.title, 120)}**  \n{widgets.item_caption(rec.item)}  \n"
                          + explain.sentence(rec, result.degraded, name=lambda t: f"*{md(t, 80)}*"))
            share = charts.lm_share(rec.contributions)
            score.markdown(f"**{rec.score:+.3f}**  \nLM {share:.0%}")
            with buttons:
                with st.container(horizontal=True, gap="small", horizontal_alignment="right"):
                    st.button("", icon=":material/thumb_up:", key=f"rec_like_{rec.item.id}", on_click=feedback,
                              args=(rec.item.id, "like"), help="Like: add to the history and re-rank")
                    st.button("", icon=":material/thumb_down:", key=f"rec_dislike_{rec.item.id}",
                              on_click=feedback, args=(rec.item.id, "dislike"),
                              help="Dislike: never recommend it again, and re-rank")
            why = st.expander("Why: contributions to the score", expanded=rec.rank == 1, key=f"rec_why_{rec.rank}",
                              on_change="rerun")
            if not why.open:
                continue
            with why:
                if rec.rank == 1:
                    st.caption("A bar per liked item, split into what the language model and the similarity of "
                               "content gave, and the popularity prior; all add up to the score. LM % is the "
                               "language model's share: Σ|LM parts| / Σ|all parts|. Hover for exact values.")
                widgets.chart(charts.contribution_bars(result, rec.rank), key=f"rec_wf_{rec.rank}",
                              name=f"contributions-{rec.rank}")

    if heat_tab.open:
        with heat_tab:
            fig = charts.heatmap(result)
            if fig is None:
                st.info("An empty history: every score is the popularity prior, so no liked item drives anything.")
            else:
                widgets.chart(fig, key="rec_heatmap", name="heatmap")
                st.caption("Each cell is one liked item's part of one recommendation's score (language model + "
                           "similarity): blue pushed it up, red down. Hover for the split and exact values.")
    if weight_tab.open:
        with weight_tab:
            widgets.chart(charts.weights_bar(result), key="rec_weights", name="history-weights")
    if table_tab.open:
        with table_tab:
            st.dataframe(table(result), hide_index=True, width="stretch",
                         column_config={"lm_share": st.column_config.ProgressColumn("LM share", min_value=0,
                                                                                    max_value=1, format="percent")})
    if export_tab.open:
        with export_tab:
            export(result, params)
