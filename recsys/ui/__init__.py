"""The app's shared parts: cached loaders, session state, widgets and shareable links.

The only part of `recsys` that imports Streamlit (in `loaders`, `state` and `widgets`); `share` and `text` are
plain functions, tested without an app.
"""
