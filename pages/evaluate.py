"""Evaluate: offline evaluation runs and their stored results (DESIGN.md §4)."""
import importlib

import streamlit as st

st.title("Evaluate")
try:
    evaluate = importlib.import_module("recsys.evaluate")
    ready = all(hasattr(evaluate, f) for f in ("run_evaluation", "list_evaluations", "load_evaluation"))
except ImportError:
    ready = False
if not ready:
    st.info("The evaluation harness is not available in this installation yet.")
    st.stop()
st.info("Under construction.")
