"""Small parts of the "Models" dock widget: run options, what a run wrote, model blurb."""

from __future__ import annotations

import html

from magicgui.widgets import ComboBox, Container, LineEdit, SpinBox

from ...models import BaseModel


def run_options() -> Container:
    """Seed, device and result name (``key_added``) of a run."""
    return Container(
        widgets=[
            SpinBox(
                name="seed",
                value=0,
                min=0,
                max=2**31 - 1,
                label="seed",
                tooltip="fixed seed: same seed, same result",
            ),
            ComboBox(
                name="device",
                choices=["auto", "cpu", "cuda"],
                value="auto",
                label="device",
                tooltip="auto = the GPU when there is one",
            ),
            LineEdit(
                name="key_added",
                value="",
                label="result name",
                tooltip="name the results are written under (obs, obsm['X_…'], layers, uns)",
            ),
        ]
    )


def written_keys(model: BaseModel, key: str) -> list[str]:
    """Where :meth:`BaseModel.write` put the results of ``model`` under ``key``."""
    found = []
    if model.get_labels() is not None:
        found.append(f"obs['{key}']")
    if model.get_confidence() is not None:
        found.append(f"obs['{key}_confidence']")
    if model.get_latent() is not None:
        found.append(f"obsm['X_{key}']")
    if model.get_imputed() is not None:
        found.append(f"layers['{key}_imputed']")
    return [*found, f"uns['{key}']"]


def about_html(cls: type[BaseModel]) -> str:
    """The model's description and citation as rich text."""
    text = f"{html.escape(cls.description or cls.name)}"
    if cls.citation:
        text += f"<br><i style='color:gray'>{html.escape(cls.citation)}</i>"
    return text
