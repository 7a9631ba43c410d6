"""Anti-aliased, shaded 2-D primitives for the figure (numpy, evaluated only inside each bounding box).

Every primitive is a signed distance in pixels; coverage ``clip(0.5 - d, 0, 1)`` anti-aliases edges
without supersampling, and a pseudo-3-D normal (round cross-section) gives limbs and trunk a
Lambert shading. Pixel (row i, column j) has its centre at (u, v) = (j + 0.5, i + 0.5).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Region tags written into the label map (0 = background); masks are unions of these.
TAG_TORSO, TAG_NECK, TAG_HEAD, TAG_UPPER_ARM, TAG_FOREARM, TAG_HAND = 1, 2, 3, 4, 5, 6
TAG_THIGH, TAG_SHIN, TAG_FOOT, TAG_STOOL, TAG_HAIR, TAG_OBJECT = 7, 8, 9, 10, 11, 12

AMBIENT, DIFFUSE = 0.58, 0.52


class Canvas:
    """A float RGB image plus, optionally, a map of which region tag covers each pixel."""

    def __init__(self, background: np.ndarray, light: np.ndarray, labels: bool = False):
        self.img = background.astype(np.float32, copy=True)  # [H, W, 3] in 0..1
        self.h, self.w = self.img.shape[:2]
        self.light = light.astype(np.float32)  # unit vector in screen axes (x right, y down, z out)
        self.labels = np.zeros((self.h, self.w), np.int8) if labels else None

    # ---- helpers ---------------------------------------------------------------------------------
    def _box(self, lo: np.ndarray, hi: np.ndarray) -> tuple[slice, slice, np.ndarray, np.ndarray] | None:
        return window(lo, hi, self.w, self.h)

    def _lambert(self, nx: np.ndarray, ny: np.ndarray, nz: np.ndarray) -> np.ndarray:
        return lambert(self.light, nx, ny, nz)

    def _composite(self, rows: slice, cols: slice, alpha: np.ndarray, rgb: np.ndarray, tag: int) -> None:
        """Blend ``rgb`` [h, w, 3] with coverage ``alpha`` [h, w] into the window."""
        a = alpha[..., None]
        self.img[rows, cols] = self.img[rows, cols] * (1.0 - a) + rgb * a
        if self.labels is not None:
            tags = self.labels[rows, cols]
            tags[alpha > 0.5] = tag

    # ---- primitives ------------------------------------------------------------------------------
    def capsules(
        self,
        a: np.ndarray,
        b: np.ndarray,
        ra: np.ndarray,
        rb: np.ndarray,
        colour: np.ndarray,
        tag: int,
        *,
        shade: bool = True,
    ) -> None:
        """Union of K tapered capsules (segments a[k]-b[k] [K, 2], radii ra/rb [K] px) in one colour."""
        layers = capsule_layers(a[None], b[None], ra[None], rb[None], colour, self.light, self.w, self.h, shade=shade)
        if layers is not None:
            self.layers(layers, 0, tag)

    def layers(self, layers: Layers, f: int, tag: int) -> None:
        """Composite frame ``f`` of layers drawn for a whole clip at once (``capsule_layers``)."""
        self._composite(layers.rows, layers.cols, layers.alpha[f], layers.rgb[f], tag)

    def trunk(
        self,
        top: np.ndarray,
        bottom: np.ndarray,
        half_top: float,
        half_bottom: float,
        shoulders: tuple[np.ndarray, np.ndarray],
        shoulder_r: float,
        colour: np.ndarray,
        tag: int,
    ) -> None:
        """Tapered, rounded box from ``top`` to ``bottom`` (centres, px) unioned with a shoulder capsule."""
        length = float(np.linalg.norm(bottom - top))
        if length < 1e-3:
            return
        e = (bottom - top) / length
        n = np.array([-e[1], e[0]])
        corners = np.array([top + n * half_top, top - n * half_top, bottom + n * half_bottom, bottom - n * half_bottom,
                            shoulders[0], shoulders[1]])
        pad = max(half_top, half_bottom, shoulder_r)
        box = self._box(corners.min(0) - pad * 0.2 - shoulder_r, corners.max(0) + pad * 0.2 + shoulder_r)
        if box is None:
            return
        rows, cols, us, vs = box
        px, py = us[None, :] - top[0], vs[:, None] - top[1]
        s = px * e[0] + py * e[1]  # along the trunk axis
        w = px * n[0] + py * n[1]  # across it
        half = half_top + (half_bottom - half_top) * np.clip(s / length, 0.0, 1.0)
        rc = 0.35 * min(half_top, half_bottom)
        qx = np.abs(w) - (half - rc)
        qy = np.abs(s - length / 2) - (length / 2 - rc)
        d_box = np.hypot(np.maximum(qx, 0), np.maximum(qy, 0)) + np.minimum(np.maximum(qx, qy), 0) - rc
        # Shoulder line: capsule between the two shoulder points.
        a, b = shoulders
        ba = b - a
        t = np.clip(((us[None, :] - a[0]) * ba[0] + (vs[:, None] - a[1]) * ba[1]) / max(ba @ ba, 1e-6), 0, 1)
        sx, sy = us[None, :] - (a[0] + t * ba[0]), vs[:, None] - (a[1] + t * ba[1])
        d_sh = np.sqrt(sx * sx + sy * sy) - shoulder_r
        d = np.minimum(d_box, d_sh)
        alpha = np.clip(0.5 - d, 0.0, 1.0)
        # Round cross-section across the trunk; the shoulder capsule shades like a limb.
        cx = np.clip(w / np.maximum(half, 1e-3), -1, 1)
        nx_box, ny_box = cx * n[0], cx * n[1]
        use_sh = d_sh < d_box
        nx = np.where(use_sh, np.clip(sx / shoulder_r, -1, 1), nx_box)
        ny = np.where(use_sh, np.clip(sy / shoulder_r, -1, 1) * 0.7 - 0.3, ny_box)
        n2 = np.minimum(nx * nx + ny * ny, 1.0)
        lum = self._lambert(nx, ny, np.sqrt(1.0 - n2))
        self._composite(rows, cols, alpha, colour[None, None, :] * lum[..., None], tag)

    def ellipse(
        self, centre: np.ndarray, rx: float, ry: float, colour: np.ndarray, tag: int, *, opacity: float = 1.0,
        soft: float = 0.0, shade: bool = True,
    ) -> None:
        """Axis-aligned ellipse (radii px); ``soft`` widens the edge (shadows)."""
        pad = np.array([rx, ry]) + soft
        box = self._box(centre - pad, centre + pad)
        if box is None:
            return
        rows, cols, us, vs = box
        ex, ey = (us[None, :] - centre[0]) / max(rx, 1e-3), (vs[:, None] - centre[1]) / max(ry, 1e-3)
        q = np.sqrt(ex * ex + ey * ey)
        d = (q - 1.0) * min(rx, ry)
        alpha = np.clip((0.5 + soft / 2 - d) / (1.0 + soft), 0.0, 1.0) * opacity
        if shade:
            n2 = np.minimum(ex * ex + ey * ey, 1.0)
            lum = self._lambert(ex, ey, np.sqrt(1.0 - n2))
        else:
            lum = np.ones_like(q)
        self._composite(rows, cols, alpha, colour[None, None, :] * lum[..., None], tag)

    def darken(self, centre: np.ndarray, rx: float, ry: float, amount: float) -> None:
        """Soft multiplicative shadow (a Gaussian blob) without touching the label map."""
        box = self._box(centre - 2 * np.array([rx, ry]), centre + 2 * np.array([rx, ry]))
        if box is None:
            return
        rows, cols, us, vs = box
        ex, ey = (us[None, :] - centre[0]) / max(rx, 1e-3), (vs[:, None] - centre[1]) / max(ry, 1e-3)
        self.img[rows, cols] *= (1.0 - amount * np.exp(-(ex * ex + ey * ey)))[..., None]

    def head(
        self,
        centre: np.ndarray,
        rot: np.ndarray,
        radii: np.ndarray,
        scale: float,
        look: "HeadLook",
        tag: int,
    ) -> None:
        """Ray-cast a textured ellipsoid head (face, hair, eyes, brows, mouth, glasses) at pixel ``centre``.

        ``rot`` [3, 3] maps head-local axes to camera axes (x right, y up, z out), ``radii`` are metres
        and ``scale`` pixels per metre (orthographic inside the head).
        """
        r_px = float(radii.max() * scale)
        box = self._box(centre - r_px, centre + r_px)
        if box is None:
            return
        rows, cols, us, vs = box
        hit = _ray_cast_ellipsoid(centre, rot, radii, scale, us, vs)
        if hit is None:
            return
        alpha, p, normal = hit
        x, y, z = p
        lum = self._lambert(normal[0], -normal[1], normal[2])
        rgb = np.broadcast_to(look.skin, (*x.shape, 3)).copy()
        self._paint_face(rgb, x, y, z, look)
        rgb[look.hair_mask(x, y, z)] = look.hair
        self._composite(rows, cols, alpha, rgb * lum[..., None], tag)

    def _paint_face(self, rgb: np.ndarray, x: np.ndarray, y: np.ndarray, z: np.ndarray, look: "HeadLook") -> None:
        """Paint nose, mouth, eyes, brows and glasses into ``rgb`` at head-local unit-sphere points."""
        front = z > 0.15
        # Nose: the side away from the light is in shadow; nostrils darker.
        nose = front & (np.abs(x) < 0.1) & (y > -0.34) & (y < 0.1)
        shadow_side = x * np.sign(self.light[0] + 1e-6) < 0
        rgb[nose & shadow_side] *= 0.86
        rgb[front & (np.abs(y + 0.30) < 0.05) & (np.abs(x) < 0.12)] *= 0.72
        mouth = front & (np.abs(x) < 0.24) & (np.abs(y + 0.52 + 0.25 * x * x) < 0.045)
        rgb[mouth] = look.lips
        for side in (-1.0, 1.0):
            ex, ey = x - side * 0.36, y - 0.10
            if look.blink:
                rgb[front & (np.abs(ex) < 0.13) & (np.abs(ey) < 0.02)] *= 0.6  # closed lid line
            else:
                eye = front & ((ex / 0.14) ** 2 + (ey / 0.075) ** 2 < 1.0)
                rgb[eye] = look.sclera
                rgb[eye & (ex * ex + ey * ey < 0.062**2)] = look.iris
            brow = front & (np.abs(ex) < 0.17) & (np.abs(y - 0.30 - 0.6 * (0.03 - ex * ex)) < 0.035)
            rgb[brow] = look.brow
            if look.glasses:
                gy = y - 0.11 - look.glasses_lift
                ring = np.sqrt(ex * ex + gy * gy)
                rgb[(z > 0.3) & (ring > 0.17) & (ring < 0.22)] = look.frame
        if look.glasses:
            bridge = (z > 0.5) & (np.abs(x) < 0.2) & (np.abs(y - 0.14 - look.glasses_lift) < 0.025)
            rgb[bridge] = look.frame


def _ray_cast_ellipsoid(
    centre: np.ndarray, rot: np.ndarray, radii: np.ndarray, scale: float, us: np.ndarray, vs: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Coverage alpha [h, w], head-local unit-sphere point p [3, h, w] and camera normal [3, h, w] of the
    ellipsoid under pixels ``us`` x ``vs``; None when it covers none of them."""
    # Pixel offsets in metres, camera axes (v grows downwards, y upwards).
    dx = (us[None, :] - centre[0]) / scale
    dy = -(vs[:, None] - centre[1]) / scale
    inv = (rot / radii[None, :]).T  # camera -> normalised head-local: S^-1 R^T
    ox = inv[:, 0, None, None] * dx + inv[:, 1, None, None] * dy  # [3, h, w] ray origins (z = 0 plane)
    d = inv[:, 2]  # ray direction (towards the camera) in normalised coordinates
    a = float(d @ d)
    b = 2.0 * np.einsum("i,ihw->hw", d, ox)
    c = np.einsum("ihw,ihw->hw", ox, ox) - 1.0
    m2 = c + 1.0 - b * b / (4 * a)  # squared distance of the ray from the centre
    dist = (np.sqrt(np.maximum(m2, 0.0)) - 1.0) * float(np.sqrt(radii[0] * radii[1]) * scale)
    alpha = np.clip(0.5 - dist, 0.0, 1.0)
    if not alpha.any():
        return None
    s = (-b + np.sqrt(np.maximum(b * b - 4 * a * c, 0.0))) / (2 * a)
    p = ox + s[None] * d[:, None, None]  # [3, h, w] point on the unit sphere, head-local
    p = p / np.maximum(np.sqrt(np.einsum("ihw,ihw->hw", p, p)), 1e-6)[None]
    # World normal of the ellipsoid: R S^-1 p.
    normal = np.einsum("ij,jhw->ihw", rot / radii[None, :], p)
    normal /= np.maximum(np.sqrt(np.einsum("ihw,ihw->hw", normal, normal)), 1e-6)[None]
    return alpha, p, normal


class HeadLook:
    """Colours and hair style of a head, plus the per-frame blink and glasses state."""

    def __init__(self, skin, hair, style: str, glasses: bool):
        self.skin = np.asarray(skin, np.float32)
        self.hair = np.asarray(hair, np.float32)
        self.brow = np.clip(self.hair * 0.8 + self.skin * 0.1, 0, 1)
        self.lips = np.clip(self.skin * np.array([0.85, 0.55, 0.55]), 0, 1)
        self.sclera = np.array([0.92, 0.9, 0.88], np.float32)
        self.iris = np.array([0.12, 0.08, 0.06], np.float32)
        self.frame = np.array([0.08, 0.08, 0.1], np.float32)
        self.style = style
        self.glasses = glasses
        self.glasses_lift = 0.0
        self.blink = False

    def hair_mask(self, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        """Where the unit-sphere point (head-local) is covered by hair."""
        if self.style == "bald":
            return (z < 0.2) & (y > -0.15) & (y < 0.35) & (np.abs(x) > 0.5)
        front_line = 0.48 + 0.10 * x * x  # hairline on the forehead
        side_line = 0.15 + 0.6 * np.minimum(z, 0.0)  # above the ears, down to the nape at the back
        line = np.where(z > 0.35, front_line, side_line)
        if self.style == "long":
            line = np.where(z < 0.45, np.minimum(line, -0.75), line)
        return y > line


# ---- primitives of a whole clip ------------------------------------------------------------------
# Drawing frame by frame spends its time in numpy's per-call overhead on windows of a few hundred pixels; a clip
# drawn whole computes each capsule's coverage and colour for all its frames in one pass over the window that
# covers every frame, and composites frame by frame in the painter's order. Pixels outside a frame's own window
# get coverage 0 (they lie over 1.5 px beyond every capsule), so the frames are the ones drawn one by one.


@dataclass(frozen=True)
class Layers:
    """Coverage ``alpha`` [T, h, w] and colour ``rgb`` [T, h, w, 3] of one primitive in the window rows x cols."""

    rows: slice
    cols: slice
    alpha: np.ndarray
    rgb: np.ndarray


def window(lo: np.ndarray, hi: np.ndarray, width: int,
           height: int) -> tuple[slice, slice, np.ndarray, np.ndarray] | None:
    """Pixel window covering [lo, hi] (u, v) plus one pixel, clipped to the image, and its centre coordinates."""
    j0, i0 = max(int(np.floor(lo[0])) - 1, 0), max(int(np.floor(lo[1])) - 1, 0)
    j1, i1 = min(int(np.ceil(hi[0])) + 1, width), min(int(np.ceil(hi[1])) + 1, height)
    if j1 <= j0 or i1 <= i0:
        return None
    us = np.arange(j0, j1, dtype=np.float32) + 0.5
    vs = np.arange(i0, i1, dtype=np.float32) + 0.5
    return slice(i0, i1), slice(j0, j1), us, vs


def lambert(light: np.ndarray, nx: np.ndarray, ny: np.ndarray, nz: np.ndarray) -> np.ndarray:
    """Ambient plus diffuse light on unit normals (nx, ny, nz) in screen axes."""
    lam = nx * light[0] + ny * light[1] + nz * light[2]
    return AMBIENT + DIFFUSE * np.maximum(lam, 0.0)


def capsule_layers(a: np.ndarray, b: np.ndarray, ra: np.ndarray, rb: np.ndarray, colour: np.ndarray,
                   light: np.ndarray, width: int, height: int, *, shade: bool = True) -> Layers | None:
    """The union of K tapered capsules in each of T frames (segments a-b [T, K, 2] px, radii ra, rb [T, K] px),
    over the window that covers all T frames; None where it lies outside the image."""
    rmax = np.maximum(ra, rb)[..., None]
    box = window((np.minimum(a, b) - rmax).reshape(-1, 2).min(0), (np.maximum(a, b) + rmax).reshape(-1, 2).max(0),
                 width, height)
    if box is None:
        return None
    rows, cols, us, vs = box
    # [T, K] -> [T, K, 1, 1] so everything broadcasts over the window [T, K, h, w].
    ax, ay = a[..., 0, None, None], a[..., 1, None, None]
    bax, bay = b[..., 0, None, None] - ax, b[..., 1, None, None] - ay
    inv_bb = 1.0 / np.maximum(bax * bax + bay * bay, 1e-6)
    pax, pay = us[None, None, None, :] - ax, vs[None, None, :, None] - ay
    t = np.minimum(np.maximum((pax * bax + pay * bay) * inv_bb, 0.0), 1.0)
    vx, vy = pax - t * bax, pay - t * bay
    r = ra[..., None, None] + t * (rb - ra)[..., None, None]
    d = np.sqrt(vx * vx + vy * vy) - r
    if a.shape[1] > 1:
        k = np.argmin(d, axis=1)[None, :, None]  # nearest capsule per pixel: [1, T, 1, h, w]
        d, vx, vy, r = np.take_along_axis(np.stack([d, vx, vy, r]), k, 2)[:, :, 0]
    else:
        d, vx, vy, r = d[:, 0], vx[:, 0], vy[:, 0], r[:, 0]
    r = np.maximum(r, 1e-3)
    # Sub-pixel limbs (fingers at small sizes) cover only part of a pixel.
    alpha = np.minimum(np.maximum(0.5 - d, 0.0), 1.0) * np.minimum(2.0 * r, 1.0)  # [T, h, w]
    if shade:
        nx, ny = vx / r, vy / r
        n2 = np.minimum(nx * nx + ny * ny, 1.0)
        rgb = colour * lambert(light, nx, ny, np.sqrt(1.0 - n2))[..., None]
    else:
        rgb = np.broadcast_to(colour, (*d.shape, 3))
    return Layers(rows, cols, alpha, rgb)
