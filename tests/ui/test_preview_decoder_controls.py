"""The preview options' decoder choice: Linear / Tiny VAE / Full VAE bound to the session, the
tiny VAE's folder and download box shown only for the tiny VAE."""

from __future__ import annotations

from studio.core.jobs import PreviewDecoder
from studio.ui.controls import SharedPanel


def test_the_choice_is_bound_both_ways(qtbot, session) -> None:
    panel = SharedPanel(session)
    qtbot.addWidget(panel)
    combo = panel.preview_decoder_combo
    assert [combo.itemText(i) for i in range(combo.count())] == ["Linear", "Tiny VAE", "Full VAE"]
    assert combo.currentData() == "linear" and panel.tiny_vae_edit.isHidden()
    combo.setCurrentIndex(combo.findData("tiny"))
    assert session.preview_decoder is PreviewDecoder.tiny
    assert not panel.tiny_vae_edit.isHidden() and not panel.tiny_vae_download_check.isHidden()
    panel.tiny_vae_edit.setText("/vaes")
    panel.tiny_vae_download_check.setChecked(True)
    assert session.tiny_vae_dir == "/vaes" and session.tiny_vae_download is True
    session.preview_decoder = PreviewDecoder.full
    assert combo.currentData() == "full" and panel.tiny_vae_edit.isHidden()
