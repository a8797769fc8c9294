"""How the report's figures look: a light and a dark theme with the same layout, sizes that
stay legible with 10 models and 24 categories, and rendering to embeddable PNG.

Figures are ``matplotlib.figure.Figure`` objects made without pyplot, so rendering needs no
display, touches no global figure list and works the same in a notebook and a server.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: Pixels per inch of the embedded PNGs; pages show them at 96 per inch, so they stay
#: sharp on high-density screens and text keeps its point size at 100% zoom.
DPI = 144
CSS_PPI = 96


@dataclass(frozen=True)
class Theme:
    """Colours of one theme; the series colours are readable on both backgrounds."""

    name: str
    background: str
    foreground: str
    muted: str
    grid: str
    accent: str
    good: str
    bad: str

    def rc(self) -> dict[str, Any]:
        return {
            "figure.facecolor": self.background, "axes.facecolor": self.background,
            "savefig.facecolor": self.background, "axes.edgecolor": self.muted,
            "axes.labelcolor": self.foreground, "text.color": self.foreground,
            "xtick.color": self.foreground, "ytick.color": self.foreground,
            "grid.color": self.grid, "axes.grid": True, "grid.linewidth": 0.6,
            "axes.axisbelow": True, "axes.spines.top": False, "axes.spines.right": False,
            "legend.frameon": False, "font.size": 9, "axes.titlesize": 10, "axes.labelsize": 9,
            "xtick.labelsize": 8, "ytick.labelsize": 8, "legend.fontsize": 8,
            "axes.titleweight": "bold", "svg.fonttype": "none",
        }


LIGHT = Theme("light", background="#ffffff", foreground="#1f2328", muted="#57606a", grid="#d8dee4",
              accent="#0969da", good="#1a7f37", bad="#cf222e")
DARK = Theme("dark", background="#0d1117", foreground="#e6edf3", muted="#8b949e", grid="#30363d",
             accent="#4493f8", good="#3fb950", bad="#f85149")

#: Series colours (Okabe-Ito, then tab10's): distinguishable for colour-blind readers, and
#: mid-luminance so that they read on white and on near-black.
SERIES = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#999999",
          "#8c564b", "#9467bd", "#17becf", "#bcbd22"]


def series_color(index: int) -> str:
    return SERIES[index % len(SERIES)]


@contextmanager
def themed(theme: Theme) -> Iterator[None]:
    import matplotlib

    params: Any = theme.rc()  # matplotlib types the keys as literals; ours are checked at run time
    with matplotlib.rc_context(params):
        yield


def png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    # Fast compression: the page is read locally, and encoding is a fifth of the render time.
    figure.savefig(buffer, format="png", dpi=DPI, facecolor=figure.get_facecolor(),
                   pil_kwargs={"compress_level": 1})
    return buffer.getvalue()


#: The gid of an artist whose colour does not depend on the theme (text on a colour map).
FIXED = "fixed-color"

_ROLES = ("background", "foreground", "muted", "grid", "accent", "good", "bad")


def recolor(figure: Figure, source: Theme, target: Theme) -> None:
    """Repaint a drawn figure from one theme's colours to another's, in place.

    Every colour of ``source`` (text, ticks, spines, grid, backgrounds, the accents) becomes
    its counterpart in ``target``; series colours and colour maps stay.  Redrawing the same
    figure reuses its layout and text metrics, which is most of what a fresh drawing costs.
    """
    from matplotlib.collections import Collection
    from matplotlib.colors import to_hex, to_rgba
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch
    from matplotlib.text import Text

    mapping = {to_hex(getattr(source, role)): getattr(target, role) for role in _ROLES}

    def swap(color: Any) -> Any:
        if isinstance(color, str) and color in ("none", "None"):
            return color
        rgba = to_rgba(color)
        new = mapping.get(to_hex(rgba))
        return to_rgba(new, rgba[3]) if new is not None else rgba

    def swap_all(colors: Any) -> Any:
        return [swap(c) for c in colors] if len(colors) else colors

    for artist in figure.findobj(include_self=True):
        if artist.get_gid() == FIXED:
            continue
        if isinstance(artist, Text):
            artist.set_color(swap(artist.get_color()))
        elif isinstance(artist, Line2D):
            artist.set_color(swap(artist.get_color()))
            artist.set_markeredgecolor(swap(artist.get_markeredgecolor()))
            artist.set_markerfacecolor(swap(artist.get_markerfacecolor()))
        elif isinstance(artist, Patch):
            artist.set_facecolor(swap(artist.get_facecolor()))
            artist.set_edgecolor(swap(artist.get_edgecolor()))
        elif isinstance(artist, Collection):
            artist.set_facecolor(swap_all(artist.get_facecolor()))
            artist.set_edgecolor(swap_all(artist.get_edgecolor()))
    figure.set_facecolor(target.background)
    for axes in figure.axes:
        axes.set_facecolor(target.background)


@dataclass
class Rendered:
    """One figure as PNG, in both themes, with the size to show it at."""

    name: str
    title: str
    light: bytes
    dark: bytes
    width_px: int
    height_px: int

    def data_uri(self, theme: str) -> str:
        data = self.light if theme == "light" else self.dark
        return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def render(name: str, title: str, draw: Callable[[Theme], Figure | None]) -> Rendered | None:
    """Draw a figure in the light theme and repaint it for the dark one; keep both PNGs
    (``None`` when it has nothing to show)."""
    with themed(LIGHT):
        figure = draw(LIGHT)
        if figure is None:
            return None
        light = png(figure)
        figure.set_layout_engine("none")  # keep the positions the first drawing settled
        recolor(figure, LIGHT, DARK)
        dark = png(figure)
    width, height = figure.get_size_inches()
    return Rendered(name, title, light, dark, round(width * CSS_PPI), round(height * CSS_PPI))
