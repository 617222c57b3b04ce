"""A parameter form generated from a model's registry entry (no per-model GUI code)."""

from __future__ import annotations

from typing import Any

from magicgui.widgets import CheckBox, ComboBox, Container, FloatSpinBox, LineEdit, SpinBox

from ...models import Param


def _widget_for(p: Param):
    label = p.name.replace("_", " ")
    common = {"name": p.name, "label": label, "tooltip": p.help}
    if p.choices is not None:
        return ComboBox(choices=list(p.choices), value=p.default, **common)
    if isinstance(p.default, bool):
        return CheckBox(value=p.default, **common)
    if isinstance(p.default, int):
        return SpinBox(value=p.default, min=int(p.min if p.min is not None else 0),
                       max=int(p.max if p.max is not None else 1_000_000), **common)
    if isinstance(p.default, float):
        lo = p.min if p.min is not None else -1e9
        hi = p.max if p.max is not None else 1e9
        step = 10 ** (len(str(p.default).split(".")[-1].rstrip("0") or "0") * -1) if p.default else 0.01
        return FloatSpinBox(value=p.default, min=lo, max=hi, step=min(step, 0.1), **common)
    return LineEdit(value="" if p.default is None else str(p.default), **common)


class ParamForm(Container):
    """magicgui Container with one widget per :class:`Param` (only those with ``gui=True``)."""

    def __init__(self, params: tuple[Param, ...], *, only: list[str] | None = None) -> None:
        self._params = {p.name: p for p in params if p.gui and (only is None or p.name in only)}
        super().__init__(widgets=[_widget_for(p) for p in self._params.values()], labels=True)

    def values(self) -> dict[str, Any]:
        """Current values, coerced to each parameter's type."""
        out = {}
        for name, p in self._params.items():
            v = getattr(self, name).value
            if isinstance(v, str) and p.default is None and v.strip() == "":
                v = None
            out[name] = p.coerce(v)
        return out

    def set_values(self, **values: Any) -> None:
        for k, v in values.items():
            if k in self._params:
                getattr(self, k).value = v
