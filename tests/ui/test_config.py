"""The app's Streamlit settings that the load figures and the error policy depend on."""
import tomllib
from pathlib import Path

CONFIG = Path(__file__).resolve().parents[2] / ".streamlit" / "config.toml"


def test_no_full_garbage_collection_after_every_run():
    # on by default in Streamlit: 0.3 CPU-s of every warm rerun with the models loaded (docs/load.md)
    assert tomllib.loads(CONFIG.read_text())["runner"]["postScriptGC"] is False


def test_pages_never_show_tracebacks():
    assert tomllib.loads(CONFIG.read_text())["client"]["showErrorDetails"] == "none"
