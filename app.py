"""The app: `streamlit run app.py` (or `make run`). Names the pages in pages/.

Recommend is the landing page; Review is manual qualitative evaluation; Catalog browses and imports datasets;
Evaluate runs and shows offline evaluations.
"""
import streamlit as st

from recsys.ui import runlog, state

st.set_page_config(page_title="Explainable recommender", page_icon=":material/explore:", layout="wide")

pages = [
    st.Page("pages/recommend.py", title="Recommend", icon=":material/recommend:", default=True),
    st.Page("pages/review.py", title="Review", icon=":material/rate_review:", url_path="review"),
    st.Page("pages/catalog.py", title="Catalog", icon=":material/library_books:", url_path="catalog"),
    st.Page("pages/evaluate.py", title="Evaluate", icon=":material/analytics:", url_path="evaluate"),
]
page = st.navigation(pages, position="top")
with runlog.timed(page.url_path or "recommend", state.value(state.RATER) or st.query_params.get("rater", "")):
    page.run()
