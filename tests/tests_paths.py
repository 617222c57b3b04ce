"""Paths of the shared real data (beside the repository)."""

from pathlib import Path

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
DLPFC = SHARED / "dlpfc151673"
PEER = SHARED / "peer"
