"""The game the simulated ``vl_jepa`` agent watches: a small procedurally drawn world (numpy only).

A player walks through five named locations (village, forest, cave, castle, harbour), dwelling several
seconds in each; now and then the screen shows something that is not the game (the desktop, a web browser).
Everything is a pure function of ``(seed, frame index)``, so two processes with one seed see the same
film, and a test can ask for "the 40th game frame" without playing the first 39.

>>> game = Game(seed=7)
>>> f = game.frame(0)
>>> f.image.shape, f.image.dtype, f.is_game == (f.location is not None)
((256, 256, 3), dtype('uint8'), True)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

LOCATIONS = ("village", "forest", "cave", "castle", "harbour")
NON_GAME = ("desktop", "browser")
SIZE = 256
WORLD = 640  # background width; the camera scrolls across it


@dataclass(frozen=True)
class Frame:
    """One captured screen: ``location`` is None for a non-game screen (``scene`` names which one)."""

    frame_id: int
    location: str | None
    is_game: bool
    scene: str
    image: np.ndarray


@dataclass(frozen=True)
class Segment:
    start: int
    length: int
    scene: str  # a location or a non-game screen

    @property
    def is_game(self) -> bool:
        return self.scene in LOCATIONS


def _rect(img: np.ndarray, x0: int, y0: int, x1: int, y1: int, color: tuple[int, int, int]) -> None:
    h, w = img.shape[:2]
    x0, x1 = max(0, x0), min(w, x1)
    y0, y1 = max(0, y0), min(h, y1)
    if x0 < x1 and y0 < y1:
        img[y0:y1, x0:x1] = color


def _disc(img: np.ndarray, cx: int, cy: int, r: int, color: tuple[int, int, int]) -> None:
    h, w = img.shape[:2]
    y0, y1, x0, x1 = max(0, cy - r), min(h, cy + r + 1), max(0, cx - r), min(w, cx + r + 1)
    if y0 >= y1 or x0 >= x1:
        return
    yy, xx = np.ogrid[y0:y1, x0:x1]
    mask = (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
    img[y0:y1, x0:x1][mask] = color


def _triangle(img: np.ndarray, cx: int, base_y: int, half: int, height: int, color: tuple[int, int, int]) -> None:
    """Isosceles triangle pointing up (roofs, trees) or down when ``height`` < 0 (stalactites)."""
    step = 1 if height > 0 else -1
    for i in range(abs(height)):
        y = base_y - i * step
        span = int(half * (1 - i / abs(height)))
        _rect(img, cx - span, y, cx + span + 1, y + 1, color)


def _gradient(top: tuple[int, int, int], bottom: tuple[int, int, int], h: int, w: int) -> np.ndarray:
    t = np.linspace(0.0, 1.0, h)[:, None, None]
    col = (1 - t) * np.array(top, float) + t * np.array(bottom, float)
    return np.broadcast_to(col, (h, w, 3)).astype(np.uint8).copy()


def _background(scene: str, seed: int) -> np.ndarray:
    """The wide backdrop of one location, drawn once per (scene, seed)."""
    rng = np.random.default_rng([seed, LOCATIONS.index(scene)])
    h, w = SIZE, WORLD
    if scene == "village":
        img = _gradient((120, 180, 240), (190, 225, 250), h, w)
        _rect(img, 0, 170, w, h, (90, 170, 70))
        _rect(img, 0, 200, w, 215, (200, 170, 110))
        for x in range(20, w, 90):
            x += int(rng.integers(-10, 10))
            hh = int(rng.integers(40, 60))
            _rect(img, x, 170 - hh, x + 60, 172, (160, 110, 70))
            _triangle(img, x + 30, 170 - hh, 38, 30, (180, 40, 40))
            _rect(img, x + 24, 150, x + 36, 172, (90, 60, 30))
    elif scene == "forest":
        img = _gradient((40, 80, 50), (20, 50, 25), h, w)
        _rect(img, 0, 200, w, h, (60, 45, 25))
        for x in range(0, w, 45):
            x += int(rng.integers(-8, 8))
            _rect(img, x + 14, 140, x + 24, 205, (90, 60, 30))
            _triangle(img, x + 19, 150, 24, 70, (20, 110 + int(rng.integers(0, 40)), 30))
            _triangle(img, x + 19, 120, 18, 50, (30, 130 + int(rng.integers(0, 40)), 40))
    elif scene == "cave":
        img = _gradient((25, 22, 30), (45, 40, 50), h, w)
        for x in range(0, w, 28):
            _triangle(img, x + 14, 0, 12, -int(rng.integers(20, 70)), (70, 65, 75))
        _rect(img, 0, 215, w, h, (55, 50, 45))
        for _ in range(12):
            cx, cy = int(rng.integers(0, w)), int(rng.integers(120, 210))
            _disc(img, cx, cy, int(rng.integers(4, 8)), (80, 220, 230))
    elif scene == "castle":
        img = _gradient((80, 50, 110), (220, 120, 80), h, w)
        _rect(img, 0, 90, w, h, (105, 85, 70))
        for y in range(90, h, 16):
            off = 0 if (y // 16) % 2 else 16
            for x in range(-off, w, 32):
                _rect(img, x, y, x + 30, y + 14, (135, 110, 85))
        for x in range(40, w, 160):
            _rect(img, x, 40, x + 50, 95, (95, 75, 65))
            for k in range(0, 50, 14):
                _rect(img, x + k, 28, x + k + 8, 40, (95, 75, 65))
            _rect(img, x + 20, 60, x + 30, 80, (30, 30, 40))
        _rect(img, 0, 225, w, h, (90, 80, 70))
    elif scene == "harbour":
        img = _gradient((250, 190, 120), (250, 220, 170), h, w)
        _rect(img, 0, 150, w, h, (30, 90, 160))
        for y in range(158, h, 12):
            _rect(img, 0, y, w, y + 2, (70, 130, 200))
        _rect(img, 0, 205, w, h, (225, 200, 140))
        for x in range(30, w, 130):
            x += int(rng.integers(-15, 15))
            _rect(img, x, 150, x + 70, 168, (120, 70, 40))
            _rect(img, x + 32, 95, x + 36, 150, (80, 50, 30))
            _triangle(img, x + 46, 148, 12, 50, (240, 240, 235))
    else:
        raise ValueError(f"unknown location {scene!r}")
    return img


def _non_game(scene: str, index: int, seed: int) -> np.ndarray:
    """A screen that is not the game: the desktop with a window or two, or a web browser."""
    rng = np.random.default_rng([seed, 1000 + index])
    if scene == "desktop":
        img = _gradient((170, 200, 225), (120, 160, 200), SIZE, SIZE)
        _rect(img, 0, SIZE - 18, SIZE, SIZE, (225, 225, 230))
        for i in range(int(rng.integers(1, 3))):
            x, y = int(rng.integers(5, 90)), int(rng.integers(10, 80))
            ww, hh = int(rng.integers(120, 160)), int(rng.integers(100, 150))
            _rect(img, x, y, x + ww, y + hh, (248, 248, 248))
            _rect(img, x, y, x + ww, y + 14, (60, 110, 200) if i == 0 else (170, 170, 180))
            for line in range(y + 22, y + hh - 8, 9):
                _rect(img, x + 8, line, x + 8 + int(rng.integers(30, ww - 16)), line + 3, (90, 90, 90))
        for k in range(5):
            _rect(img, 8 + 22 * k, SIZE - 14, 22 + 22 * k, SIZE - 4, (60, 110, 200))
    elif scene == "browser":
        img = np.full((SIZE, SIZE, 3), 252, np.uint8)
        _rect(img, 0, 0, SIZE, 26, (222, 225, 230))
        _rect(img, 40, 6, SIZE - 20, 20, (255, 255, 255))
        _rect(img, 16, 40, 16 + int(rng.integers(90, 200)), 52, (30, 30, 30))
        top = 62
        if rng.random() < 0.5:
            _rect(img, 16, 62, 120, 130, tuple(int(v) for v in rng.integers(80, 220, 3)))
            top = 140
        for line in range(top, SIZE - 10, 10):
            _rect(img, 16, line, 16 + int(rng.integers(120, SIZE - 32)), line + 4, (110, 110, 110))
    else:
        raise ValueError(f"unknown non-game screen {scene!r}")
    return img


def _player(img: np.ndarray, x: int, y: int, step: int) -> None:
    """A 16x28 hero with a bobbing walk."""
    bob = (step // 2) % 2
    _rect(img, x, y + bob, x + 16, y + 18 + bob, (240, 200, 40))
    _rect(img, x + 2, y - 8 + bob, x + 14, y + bob, (250, 220, 180))
    _rect(img, x, y - 12 + bob, x + 16, y - 8 + bob, (200, 30, 30))
    leg = 3 if step % 2 else 0
    _rect(img, x + 2 + leg, y + 18, x + 6 + leg, y + 28, (50, 50, 140))
    _rect(img, x + 10 - leg, y + 18, x + 14 - leg, y + 28, (50, 50, 140))


def _hud(img: np.ndarray, location: str, step: int) -> None:
    """The game's frame and heads-up display: status bar with hearts and coins, border, minimap."""
    frame = (50, 34, 20)
    _rect(img, 0, 0, SIZE, 40, frame)
    _rect(img, 0, 40, 16, SIZE, frame)
    _rect(img, SIZE - 16, 40, SIZE, SIZE, frame)
    _rect(img, 0, SIZE - 16, SIZE, SIZE, frame)
    _rect(img, 0, 36, SIZE, 40, (200, 160, 60))
    _rect(img, 12, 40, 16, SIZE - 12, (200, 160, 60))
    _rect(img, SIZE - 16, 40, SIZE - 12, SIZE - 12, (200, 160, 60))
    _rect(img, 12, SIZE - 16, SIZE - 12, SIZE - 12, (200, 160, 60))
    for k in range(5):
        _disc(img, 16 + 20 * k, 18, 7, (220, 30, 50) if k < 4 else (90, 60, 60))
    for k in range(3):
        _disc(img, 130 + 14 * k, 18, 5, (250, 210, 40))
    _rect(img, SIZE - 58, 46, SIZE - 6, 98, (200, 160, 60))
    _rect(img, SIZE - 55, 49, SIZE - 9, 95, (30, 40, 30))
    where = LOCATIONS.index(location)
    _rect(
        img, SIZE - 50 + 8 * where, 70 + (step % 10) - 5, SIZE - 45 + 8 * where, 75 + (step % 10) - 5, (250, 250, 250)
    )


class Game:
    """The deterministic film: ``frame(i)`` is the i-th screen; locations change every ~``dwell`` frames.

    At the agent's default 5 Hz, a dwell of 20-35 frames is 4-7 seconds per location; about one location
    visit in three is followed by 3-8 non-game frames.
    """

    def __init__(self, seed: int = 0, dwell: tuple[int, int] = (20, 35), non_game_every: float = 0.35):
        self.seed = seed
        self.dwell = dwell
        self.non_game_every = non_game_every
        self._segments: list[Segment] = []
        self._backgrounds: dict[str, np.ndarray] = {}

    def _extend(self) -> None:
        n = len(self._segments)
        rng = np.random.default_rng([self.seed, 7, n])
        start = self._segments[-1].start + self._segments[-1].length if self._segments else 0
        previous = next((s.scene for s in reversed(self._segments) if s.is_game), None)
        choices = [loc for loc in LOCATIONS if loc != previous]
        if n == 0:
            scene = LOCATIONS[self.seed % len(LOCATIONS)]
        else:
            last = self._segments[-1]
            if last.is_game and rng.random() < self.non_game_every:
                scene = NON_GAME[int(rng.integers(0, len(NON_GAME)))]
                self._segments.append(Segment(start, int(rng.integers(3, 9)), scene))
                return
            scene = choices[int(rng.integers(0, len(choices)))]
        self._segments.append(Segment(start, int(rng.integers(self.dwell[0], self.dwell[1] + 1)), scene))

    def segment(self, index: int) -> Segment:
        """The segment that contains frame ``index``."""
        while not self._segments or self._segments[-1].start + self._segments[-1].length <= index:
            self._extend()
        lo, hi = 0, len(self._segments) - 1
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if self._segments[mid].start <= index:
                lo = mid
            else:
                hi = mid - 1
        return self._segments[lo]

    def frame(self, index: int) -> Frame:
        seg = self.segment(index)
        if not seg.is_game:
            return Frame(index, None, False, seg.scene, _non_game(seg.scene, index, self.seed))
        return Frame(index, seg.scene, True, seg.scene, self.render(seg.scene, index - seg.start, index))

    def render(self, location: str, step: int, index: int | None = None) -> np.ndarray:
        """Location ``location`` seen at walk ``step``: the camera scrolls and the player walks."""
        bg = self._backgrounds.get(location)
        if bg is None:
            bg = self._backgrounds[location] = _background(location, self.seed)
        offset = (step * 6) % (WORLD - SIZE)
        img = bg[:, offset : offset + SIZE].copy()
        px = 40 + int(70 * (1 + np.sin(step / 5.0)))
        py = 172 + int(8 * np.sin(step / 3.0))
        _player(img, px, py, step)
        _hud(img, location, step)
        noise = np.random.default_rng([self.seed, 3, index if index is not None else step])
        img = np.clip(img.astype(np.int16) + noise.integers(-6, 7, img.shape, dtype=np.int16), 0, 255)
        return img.astype(np.uint8)

    def samples(self, kind: str, count: int, start: int = 0, per_segment: int = 2) -> list[Frame]:
        """``count`` game frames (``kind="game"``) or non-game frames, ``per_segment`` from each visit.

        Spreading the picks over many visits gives centroids that cover every location and screen, as
        collecting for a few minutes of real play would.
        """
        want_game = kind == "game"
        found: list[Frame] = []
        index = start
        while len(found) < count:
            seg = self.segment(index)
            if seg.is_game == want_game:
                picks = min(per_segment, seg.length, count - len(found))
                for k in range(picks):
                    found.append(self.frame(seg.start + (k * seg.length) // picks))
            index = seg.start + seg.length
        return found

    def location_samples(self, location: str, count: int) -> list[Frame]:
        """``count`` views of one location at different walk steps (for location centroids)."""
        return [Frame(-1 - k, location, True, location, self.render(location, k * 3, 10_000 + k)) for k in range(count)]
