"""Catalog: browse and search a dataset, see an item's details and popularity, and import datasets through the
importers (a path on the server, or an uploaded file), with the importer's counts and problems shown."""
from __future__ import annotations

import tempfile
from pathlib import Path

import pandas as pd
import streamlit as st

from recsys.errors import ConfigError
from recsys.ui import loaders, state, widgets
from recsys.ui.safe import md, server_path

ss = st.session_state
catalog = loaders.catalog()

st.title("Catalog")
st.caption("The items recommendations come from: the embedded demo catalogs and any imported dataset.")

browse_tab, import_tab = st.tabs(["Browse", "Import a dataset"])

with browse_tab:
    dataset = widgets.dataset_picker(catalog, "cat_dataset", label="Dataset")
    if dataset:
        info = catalog.dataset(dataset)
        c = st.columns(5)
        c[0].metric("Items", f"{info.items:,}")
        c[1].metric("Interactions", f"{info.interactions:,}")
        c[2].metric("Sequence rows", f"{info.sequences:,}")
        c[3].metric("Domain", info.domain or "–")
        total, n = catalog.popularity_total(dataset)
        c[4].metric("Popularity total", f"{total:,.0f}", help="Sum of the items' popularity (the prior's counts)")
        st.caption(f"Source: {md(info.source or 'unknown')}")
        query = state.kept(st.text_input, "Search", key="cat_query",
                           placeholder="title, creator or tag; empty: the most popular",
                           help="Case-insensitive match on title, creator and tags.")
        items = catalog.search(query, dataset, limit=200) if query.strip() else \
            [catalog.get_items([i])[i] for i in catalog.top_popular(dataset, 200)]
        st.caption(f"{len(items)} item(s) shown" + (" (the first 200)" if len(items) == 200 else "")
                   + ". Select a row for its details.")
        frame = pd.DataFrame([{"title": i.title, "creator": i.creator, "year": i.year, "tags": ", ".join(i.tags),
                               "popularity": i.popularity, "id": i.id} for i in items],
                             columns=["title", "creator", "year", "tags", "popularity", "id"])
        picked = st.dataframe(frame, hide_index=True, width="stretch", height=320, on_select="rerun",
                              selection_mode="single-row", key="cat_table",
                              column_config={"year": st.column_config.NumberColumn(format="%d"),
                                             "popularity": st.column_config.NumberColumn(format="%.0f")})
        rows = picked.selection.rows if picked and picked.selection else []
        if rows and rows[0] < len(items):
            item = items[rows[0]]
            higher = catalog.db.execute("SELECT count(*) FROM items WHERE dataset = ? AND popularity > ?",
                                        [dataset, item.popularity]).fetchone()[0]
            with st.container(border=True):
                st.subheader(md(item.title, 200))
                st.markdown(widgets.item_caption(item) or "–")
                if item.description:
                    st.text(item.description)
                d = st.columns(4)
                d[0].metric("Popularity", f"{item.popularity:,.0f}")
                d[1].metric("Rank by popularity", f"{higher + 1:,} of {n:,}")
                d[2].metric("Share of all popularity", f"{100 * item.popularity / total:.2f}%" if total else "–")
                users = catalog.db.execute("SELECT count(DISTINCT user_id) FROM interactions WHERE item_id = ?",
                                           [item.id]).fetchone()[0]
                d[3].metric("Users in the log", f"{users:,}")
                st.caption(f"id {md(item.id)}" + (f" · source id {md(item.source_id)}" if item.source_id else ""))

# -- import --------------------------------------------------------------------------------------------------------
UPLOAD_TYPES = ["csv", "tsv", "txt", "jsonl", "json", "dat", "item", "inter", "text"]
FORMATS = ("A shared development dataset", "CSV or JSON Lines table", "MovieLens folder",
           "RecBole / UniSRec atomic files")


def show_report(report) -> None:
    st.success(f"Imported {report.dataset!r}: {report.items:,} items, {report.users:,} users, "
               f"{report.interactions:,} interactions in {report.seconds:.1f} s.")
    problems = {k: getattr(report, k) for k in report.PROBLEMS if getattr(report, k)}
    if problems:
        st.warning("Problems found (the rest was imported): "
                   + ", ".join(f"{k.replace('_', ' ')} {v:,}" for k, v in problems.items()))
    st.code("\n".join(report.lines()), language=None)


with import_tab:
    try:
        from recsys import datasets as importers
    except ImportError:
        importers = None
    if importers is None:
        st.info("The importers are not available in this installation.")
        st.stop()
    kind = st.radio("What to import", FORMATS, key="cat_format", horizontal=True)
    with st.form("cat_import"):
        name = st.text_input("Dataset name", key="cat_name",
                             help="Short name used as the id prefix (letters, digits, '.', '_', '-').")
        domain_index = importers.DOMAINS.index("movies" if kind == FORMATS[2] else "generic")
        domain = st.selectbox("Domain", importers.DOMAINS, index=domain_index, key="cat_domain",
                              help="Picks the prompt template (\"Someone who enjoyed the movie …\").")
        if kind == FORMATS[0]:
            shared = st.selectbox("Shared dataset", list(importers.SHARED), key="cat_shared")
            st.caption(f"Read from {md(importers.shared_data_dir().resolve())}.")
        elif kind == FORMATS[1]:
            fmt = st.radio("Format", ["csv", "jsonl"], horizontal=True, key="cat_table_fmt")
            items_up = st.file_uploader("Item file (id, title, optional description/tags/creator/year)",
                                        type=UPLOAD_TYPES, key="cat_items_upload")
            items_path = st.text_input("…or its path on the server", key="cat_items_path")
            inter_up = st.file_uploader("Interaction file (optional: user, item, timestamp, rating)",
                                        type=UPLOAD_TYPES, key="cat_inter_upload")
            inter_path = st.text_input("…or its path on the server", key="cat_inter_path")
            delimiter = st.text_input("CSV delimiter", ",", key="cat_delimiter", help="'tab' for tab-separated")
        elif kind == FORMATS[2]:
            folder = st.text_input("MovieLens folder on the server", key="cat_ml_folder",
                                   help="ML-100K (u.data, u.item), ML-1M (…dat) or ml-latest (…csv); detected.")
        else:
            rb_items = st.text_input("Item file (.item, or UniSRec .text) path", key="cat_rb_items")
            rb_inter = st.text_area("Interaction files (.inter), one path per line", key="cat_rb_inter")
        bad = st.number_input("Malformed lines to skip before giving up", 0, 100_000, 0, key="cat_bad",
                              help="0: the first malformed line stops the import and nothing is stored.")
        submitted = st.form_submit_button("Import", type="primary")

    if submitted:
        with widgets.guard("import the dataset"), tempfile.TemporaryDirectory() as tmp:
            uploads: dict[str, tuple[str, bytes]] = {}  # temporary path -> (the uploaded file's name, its bytes)

            def saved(upload, path: str) -> str | None:
                if upload is not None:
                    target = Path(tmp) / Path(upload.name).name
                    target.write_bytes(upload.getvalue())
                    uploads[str(target)] = (upload.name, upload.getvalue())
                    return str(target)
                return server_path(path)

            db = catalog.db
            with st.spinner("Importing: reading, checking and storing every line…"), \
                    widgets.readable_import_errors(uploads):
                if kind == FORMATS[0]:
                    report = importers.import_shared(db, shared, dataset=name.strip() or None, max_bad_lines=bad)
                elif kind == FORMATS[1]:
                    items_file = saved(items_up, items_path)
                    if not items_file:
                        raise ConfigError("choose an item file (upload or path)")
                    report = importers.import_table(
                        db, name.strip(), items=items_file, interactions=saved(inter_up, inter_path), fmt=fmt,
                        delimiter="\t" if delimiter in ("tab", "\\t") else delimiter, domain=domain,
                        max_bad_lines=bad)
                elif kind == FORMATS[2]:
                    report = importers.import_movielens(db, name.strip(), server_path(folder) or "", domain=domain,
                                                        max_bad_lines=bad)
                else:
                    report = importers.import_recbole(db, name.strip(), items=server_path(rb_items) or "",
                                                      inter=[server_path(p) for p in rb_inter.splitlines() if p.strip()],
                                                      domain=domain, max_bad_lines=bad)
            show_report(report)
            st.caption("The new dataset is in the Catalog list of every page now.")
