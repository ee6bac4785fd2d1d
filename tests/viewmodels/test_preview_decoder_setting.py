"""The preview decoder choice in the window's session: from the settings into every job, back
into the settings, and through the settings file."""

from __future__ import annotations

from pathlib import Path

from studio.core.events import EngineStatus
from studio.core.jobs import PreviewDecoder
from studio.core.settings import Settings, load_settings, save_settings
from studio.viewmodels.session import SessionViewModel
from studio.viewmodels.settings import SettingsViewModel


def test_the_choice_reaches_every_job(qapp, engine, store) -> None:
    settings = Settings(preview_decoder=PreviewDecoder.tiny, tiny_vae_dir="/vaes")
    session = SessionViewModel(engine, store, settings)
    assert session.preview_decoder is PreviewDecoder.tiny and session.tiny_vae_dir == "/vaes"
    session.generate()
    previews = engine.jobs[0].previews
    assert previews.decoder is PreviewDecoder.tiny and previews.tiny_vae_dir == "/vaes"
    assert previews.download_tiny is False
    session.preview_decoder = "full"
    session.tiny_vae_download = True
    session.generate()
    assert engine.jobs[-1].previews.decoder is PreviewDecoder.full
    assert engine.jobs[-1].previews.download_tiny is True


def test_the_default_is_linear(session: SessionViewModel, engine) -> None:
    session.generate()
    assert engine.jobs[0].previews.decoder is PreviewDecoder.linear


def test_the_fallback_sentence_reaches_the_status_line(session: SessionViewModel, qtbot) -> None:
    text = "Tiny-VAE previews: madebyollin/taesd (SD 1/2) is not in the Hugging Face cache; ..."
    with qtbot.waitSignal(session.engineStatus) as blocker:
        session.handle(EngineStatus(text=text))
    assert blocker.args == [text]


def test_the_choice_is_remembered(qapp, engine, store, tmp_path: Path) -> None:
    session = SessionViewModel(engine, store, Settings())
    session.preview_decoder, session.tiny_vae_dir = PreviewDecoder.tiny, "/models/taesd"
    session.tiny_vae_download = True
    model = SettingsViewModel(tmp_path / "settings.json")
    snap = model.snapshot_from(session)
    assert (snap.preview_decoder, snap.tiny_vae_dir, snap.tiny_vae_download) == (
        PreviewDecoder.tiny,
        "/models/taesd",
        True,
    )
    save_settings(tmp_path / "s.json", snap)
    loaded, notice = load_settings(tmp_path / "s.json")
    assert notice is None and loaded.preview_decoder is PreviewDecoder.tiny
    assert loaded.tiny_vae_dir == "/models/taesd" and loaded.tiny_vae_download is True
