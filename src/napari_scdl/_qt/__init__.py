"""The thin napari/Qt layer: dock widgets over the GUI-free core.

One subpackage per panel (its widget in ``widget.py`` beside the parts only it uses):
``domains``, ``genes``, ``models``, ``compare``, ``annotate``, ``review``; ``common`` holds
what several panels share; ``launch`` opens a viewer with the panels docked.
"""
