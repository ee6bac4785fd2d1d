"""Screenshots of the Grid and Convergence tabs of the real window under Xvfb, for the docs.

Starts Xvfb (unless `--no-xvfb`) and the real app with the real engine on the embedded teacher,
runs a sampler x steps grid from the Grid tab (Ctrl+G) and grabs it while the cells stream in
and when it is done, opens a cell in the comparison view, runs small convergence curves from the
Convergence tab, and finally shows the curves of a CSV written by `studio converge`.
Run: `python -m benchmarks.screenshots_studies [--out docs/screenshots] [--csv FILE]`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
from pathlib import Path

from benchmarks.screenshots import SIZE, private_studio, start_xvfb, until

PROMPT = "grinning face, smileys & emotion, face smiling, noto style"


class StudyShooter:
    """Drives one studio window through the grid and convergence scenes, saving each."""

    def __init__(self, studio, out: Path, csv: Path | None) -> None:
        self.studio, self.window, self.out, self.csv = studio, studio.window, out, csv

    async def save(self, name: str, settle_s: float = 0.2) -> None:
        await asyncio.sleep(settle_s)
        self.window.grab().save(str(self.out / name))
        print(self.out / name)

    async def run(self) -> None:
        window, session = self.window, self.studio.session
        running = asyncio.ensure_future(self.studio.run())
        await until(window.isVisible)
        window.resize(*SIZE)
        await until(lambda: window.status_line.text().startswith("Ready"))
        session.prompt = PROMPT
        session.compare_mode = False
        await self.grid(window, session)
        await self.curves(window, session)
        window.close()
        await asyncio.wait_for(running, timeout=30)

    async def grid(self, window, session) -> None:
        grid = session.grid
        grid.x_axis, grid.x_values = "sampler", "DDIM trailing, Euler, DPM2, DPM++ 2M, UniPC"
        grid.y_axis, grid.y_values = "steps", "2, 4, 8, 16"
        window.run_grid()
        await until(lambda: len(grid.cells) >= 7, timeout=300)
        await self.save("grid-streaming.png", 0)
        await until(lambda: not session.busy, timeout=600)
        await self.save("grid.png")
        view = window.grid_panel.view
        view.pin(3, 3)
        window.open_grid_cell(0, 1)
        window.comparison.set_mode("difference")
        await self.save("grid-cell-compare.png")
        window.comparison.set_mode("side_by_side")

    async def curves(self, window, session) -> None:
        curves = session.convergence
        curves.samplers = "DDIM trailing, Euler, DPM++ 2M, UniPC, PNDM, DEIS"
        curves.steps, curves.cases, curves.reference_steps = "2, 4, 8, 16", 1, 250
        window.run_curves()
        await until(lambda: len(curves.points) >= 8, timeout=600)
        await self.save("convergence-running.png", 0)
        await until(lambda: not session.busy, timeout=900)
        await self.save("convergence.png")
        if self.csv is not None and curves.load_csv(self.csv):
            await self.save("convergence-csv.png")
            curves.metric = "agreement"
            await self.save("convergence-csv-agreement.png")


def shoot(out: Path, csv: Path | None) -> None:
    import qasync

    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        qasync.run(StudyShooter(private_studio(Path(tmp)), out, csv).run())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/screenshots"))
    parser.add_argument("--csv", type=Path, default=None, help="curves to show at the end")
    parser.add_argument("--display", default=":97")
    parser.add_argument("--no-xvfb", action="store_true", help="use the current DISPLAY")
    args = parser.parse_args()
    server = None if args.no_xvfb else start_xvfb(args.display)
    try:
        if server is not None:
            os.environ["DISPLAY"] = args.display
        os.environ["QT_QPA_PLATFORM"] = "xcb"
        shoot(args.out, args.csv)
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=10)


if __name__ == "__main__":
    main()
